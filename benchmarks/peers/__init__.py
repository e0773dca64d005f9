"""The benchmark's peers: how to set up, start, stop and measure each server under test (one
module per system: liveevents, django-eventstream, Nchan).

Every server listens on 127.0.0.1 only, on a free port, with its own temp directory. PostgreSQL
databases are created and dropped here; Redis is the shared local server on a claimed empty DB
number (never 0), and only this run's keys are deleted afterwards (benchmarks.support.services).
"""

from __future__ import annotations

from benchmarks.peers.base import Peer
from benchmarks.peers.eventstream import EventstreamPeer
from benchmarks.peers.liveevents import LiveeventsExternalPublisherPeer, LiveeventsPeer, LiveeventsRedisPeer
from benchmarks.peers.nchan import NchanPeer

__all__ = ["DEFAULT_PEERS", "Peer", "all_peers"]


def all_peers() -> dict[str, Peer]:
    """Every peer, fresh; DEFAULT_PEERS run unless --peers says otherwise."""
    peers: list[Peer] = [
        LiveeventsPeer("daphne"),
        LiveeventsPeer("uvicorn"),
        LiveeventsPeer("granian"),
        LiveeventsRedisPeer(),
        LiveeventsExternalPublisherPeer("daphne"),
        LiveeventsExternalPublisherPeer("uvicorn"),
        LiveeventsExternalPublisherPeer("granian"),
        EventstreamPeer(),
        EventstreamPeer(redis=True),
        EventstreamPeer(redis=True, postgres=True),
        NchanPeer(),
    ]
    return {peer.name: peer for peer in peers}


DEFAULT_PEERS = [
    "liveevents-daphne",
    "liveevents-uvicorn",
    "liveevents-granian",
    "liveevents-redis",
    "liveevents-daphne-redis",
    "liveevents-uvicorn-redis",
    "liveevents-granian-redis",
    "eventstream-daphne",
    "eventstream-redis",
    "nchan",
]
