"""The measurements at N streams, on one peer: memory, connection rate, broadcast latency, the
reconnect storm, then sustained throughput; benchmarks.run drives them (its docstring says how)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.peers import Peer
from benchmarks.support.memory import settled_kib
from benchmarks.support.processes import LineProcess


@dataclass
class Config:
    connections: list[int]
    repeat: int = 3
    broadcasts: int = 20
    broadcast_interval: float = 0.5
    connect_concurrency: int = 200
    connect_timeout: float = 30.0  # one connection attempt
    connect_deadline: float = 300.0  # all N streams open
    settle: float = 2.0  # idle seconds before reading RSS
    rss_samples: int = 3  # median of this many VmRSS readings, 0.2 s apart
    fresh_server_per_n: bool = True  # --quick: one server for every N
    storm_behind: int = 50
    storm_deadline: float = 300.0
    throughput_connections: int = 1000
    rates: list[int] = field(default_factory=lambda: [10, 25, 50, 100, 200, 400, 800, 1600])
    step_seconds: float = 3.0
    drain_timeout: float = 15.0
    p99_limit_ms: float = 1000.0
    browser_saves: int = 100
    quick: bool = False


class Publisher(LineProcess):
    def publish(
        self, count: int, interval: float, jitter: float = 0.0, max_seconds: float = 0.0
    ) -> list[list[Any]]:
        """Publish `count` events `interval` apart (none starts after `max_seconds`, if given)."""
        timeout = 120 + (max_seconds or count * max(interval, 0.02) * 3)
        command = {"count": count, "interval": interval, "jitter": jitter, "max_seconds": max_seconds}
        events: list[list[Any]] = self.ask(command, timeout)["events"]
        return events


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def warm_up(peer: Peer, loadgen: LineProcess, publisher: Publisher, config: Config) -> None:
    """A few streams and events first, so lazy imports and caches are not counted per stream."""
    loadgen.ask({"op": "connect", "group": "warm", "n": 20, "targets": peer.targets(), "concurrency": 20,
                 "timeout": config.connect_timeout, "deadline": 60}, 90)  # fmt: skip
    events = publisher.publish(3, 0.05)
    loadgen.ask({"op": "collect", "group": "warm", "published": events, "timeout": 10}, 30)
    loadgen.ask({"op": "close", "group": "warm"}, 60)


class Session:
    """A started, warmed-up server and its publisher process."""

    def __init__(self, peer: Peer, loadgen: LineProcess, config: Config) -> None:
        self.peer = peer
        self.loadgen = loadgen
        peer.start()
        command, env = peer.publisher_command()
        try:
            self.publisher = Publisher(command, f"publisher ({peer.name})", env)
            warm_up(peer, loadgen, self.publisher, config)
        except BaseException:
            peer.stop()
            raise

    def close(self) -> None:
        for group in ("idle", "storm", "tp"):
            with contextlib.suppress(Exception):
                self.loadgen.ask({"op": "close", "group": group}, 120)
        self.publisher.close()
        self.peer.stop()


def measure_connections(session: Session, n: int, config: Config) -> dict[str, Any]:
    """Memory, connection rate, broadcast latency and reconnect storm at N streams."""
    peer, loadgen, publisher = session.peer, session.loadgen, session.publisher
    result: dict[str, Any] = {"n": n}
    try:
        time.sleep(config.settle)
        rss_before = settled_kib(peer.rss_kib, config.rss_samples)
        targets = peer.targets()
        connect = loadgen.ask(
            {"op": "connect", "group": "idle", "n": n, "targets": targets,
             "concurrency": config.connect_concurrency, "timeout": config.connect_timeout,
             "deadline": config.connect_deadline},
            config.connect_deadline + 120,
        )  # fmt: skip
        result["connect"] = connect
        log(
            f"  {peer.name} N={n}: {connect['connected']}/{n} open in {connect['seconds']:.1f} s "
            f"({connect['rate'] or 0:.0f}/s), errors {connect['errors']}"
        )
        time.sleep(config.settle)
        rss_after = settled_kib(peer.rss_kib, config.rss_samples)
        opened = max(1, connect["connected"])
        result["memory"] = {
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "per_connection_kib": (rss_after - rss_before) / opened,
        }
        if connect["failed"] or not peer.alive():
            result["survived"] = False
            return result

        loadgen.ask({"op": "mark", "group": "idle"}, 60)
        events = publisher.publish(config.broadcasts, config.broadcast_interval, jitter=0.5)
        latency = loadgen.ask(
            {"op": "collect", "group": "idle", "published": events, "timeout": config.drain_timeout,
             "contiguous": peer.integer_ids},
            config.drain_timeout + 120,
        )  # fmt: skip
        result["latency"] = latency
        lat = latency["latency_ms"]
        log(
            f"  {peer.name} N={n}: broadcast p50 {lat.get('p50', float('nan')):.0f} ms "
            f"p99 {lat.get('p99', float('nan')):.0f} ms max {lat.get('max', float('nan')):.0f} ms, "
            f"missing {latency['missing']}, RSS/stream {result['memory']['per_connection_kib']:.1f} KiB"
        )

        # Reconnect storm: everyone leaves, 50 events happen, everyone comes back at once.
        last_seen = events[-1][0]
        loadgen.ask({"op": "close", "group": "idle"}, 120)
        time.sleep(config.settle)
        behind = publisher.publish(config.storm_behind, 0.0)
        storm = loadgen.ask(
            {"op": "connect", "group": "storm", "n": n, "targets": targets, "concurrency": n,
             "timeout": config.connect_timeout, "deadline": config.storm_deadline,
             "last_event_id": last_seen, "expect": [key for key, _ in behind]},
            config.storm_deadline + 120,
        )  # fmt: skip
        result["storm"] = storm
        seconds = f"{storm['all_seconds']:.1f} s" if storm["all_seconds"] is not None else "(not all)"
        log(
            f"  {peer.name} N={n}: storm: {storm['complete']}/{n} replayed in {seconds}, "
            f"errors {storm['errors']}"
        )
        result["survived"] = storm["complete"] == n and peer.alive()
        if result["survived"] and n == config.throughput_connections:
            # The storm's streams are open and caught up: the throughput steps run on them.
            result["throughput"] = throughput_steps(peer, loadgen, publisher, "storm", config)
        return result
    finally:
        for group in ("idle", "storm"):
            with contextlib.suppress(Exception):
                loadgen.ask({"op": "close", "group": group}, 120)
        result["server_alive_at_end"] = peer.alive()


def throughput_steps(
    peer: Peer, loadgen: LineProcess, publisher: Publisher, group: str, config: Config
) -> dict[str, Any]:
    """Events per second into the group's streams, in steps, until p99 passes the limit (or the
    publisher falls far behind the rate: the saving side is saturated); events lost."""
    n = config.throughput_connections
    result: dict[str, Any] = {"n": n, "steps": []}
    for rate in config.rates:
        loadgen.ask({"op": "mark", "group": group}, 60)
        # At most 2,000 events a step: the load generator keeps every (client, id) receipt.
        count = min(2000, max(10, int(rate * config.step_seconds)))
        cpu_before = peer.cpu_seconds()
        events = publisher.publish(count, 1.0 / rate, max_seconds=config.step_seconds * 2)
        span = events[-1][1] - events[0][1]
        achieved = (len(events) - 1) / span if span > 0 else float(rate)
        collected = loadgen.ask(
            {"op": "collect", "group": group, "published": events, "timeout": config.drain_timeout,
             "contiguous": peer.integer_ids},
            config.drain_timeout + 120,
        )  # fmt: skip
        # The servers' CPU from the first publish until every client had every event (or the
        # collect's timeout), per connection and event: what the server spends on each delivery,
        # the saves included when they run in the server.
        server_cpu = peer.cpu_seconds() - cpu_before
        lat = collected["latency_ms"]
        over = lat.get("p99", 0) > config.p99_limit_ms or collected["clients_complete"] < n
        if collected["missing"]:
            # Late or lost? Give the stragglers a minute to catch up before counting losses.
            collected = loadgen.ask(
                {"op": "collect", "group": group, "published": events, "timeout": 60,
                 "contiguous": peer.integer_ids},
                180,
            )  # fmt: skip
        step = {
            "rate": rate,
            "achieved": achieved,
            "events": len(events),
            "p50_ms": lat.get("p50"),
            "p99_ms": lat.get("p99"),
            "max_ms": lat.get("max"),
            "missing": collected["missing"],
            "duplicates": collected["duplicates"],
            "clients_complete": collected["clients_complete"],
            "clients_contiguous": collected["clients_contiguous"],
            "reconnects": collected["reconnects"],
            "resets": collected["resets"],
            "errors": collected["errors"],
            "open": collected["open"],
            "silent_clients": collected["silent_clients"],
            "server_cpu_s": server_cpu,
            "server_ns_per_delivery": server_cpu * 1e9 / max(1, n * len(events)),
        }
        result["steps"].append(step)
        log(
            f"  {peer.name} throughput {rate}/s (achieved {achieved:.0f}/s): "
            f"p50 {step['p50_ms'] or 0:.0f} ms "
            f"p99 {step['p99_ms'] or 0:.0f} ms, missing {step['missing']}, reconnects {step['reconnects']}, "
            f"server CPU {step['server_ns_per_delivery']:,.0f} ns per connection and event"
        )
        if over or achieved < 0.5 * rate or not peer.alive():
            break
    ok = [s for s in result["steps"] if (s["p99_ms"] or 0) <= config.p99_limit_ms and not s["missing"]]
    result["max_rate"] = max((s["achieved"] for s in ok), default=0.0)
    result["lost"] = sum(s["missing"] for s in result["steps"])
    return result


def measure_throughput(session: Session, config: Config) -> dict[str, Any]:
    """The throughput steps with --throughput-connections streams."""
    n = config.throughput_connections
    connect = session.loadgen.ask(
        {"op": "connect", "group": "tp", "n": n, "targets": session.peer.targets(),
         "concurrency": config.connect_concurrency, "timeout": config.connect_timeout,
         "deadline": config.connect_deadline},
        config.connect_deadline + 120,
    )  # fmt: skip
    if connect["failed"]:
        return {"n": n, "steps": [], "error": f"only {connect['connected']}/{n} streams opened"}
    time.sleep(config.settle)  # the last streams' opening work done before the first step
    return throughput_steps(session.peer, session.loadgen, session.publisher, "tp", config)


def run_peer(peer: Peer, loadgen: LineProcess, config: Config) -> dict[str, Any]:
    """Every N (a fresh server each, unless --quick), then the throughput steps; `peer` is set up."""
    run: dict[str, Any] = {"n": {}}
    session: Session | None = None
    try:
        for n in config.connections:
            try:
                session = session or Session(peer, loadgen, config)
                measured = measure_connections(session, n, config)
            except Exception as error:
                log(f"  {peer.name} N={n} failed: {error}")
                measured = {"n": n, "error": str(error), "survived": False, "log": peer.logs()[-2000:]}
            run["n"][str(n)] = measured
            if config.fresh_server_per_n or not measured.get("survived"):
                if session is not None:
                    session.close()
                session = None
            if not measured.get("survived"):
                log(f"  {peer.name}: did not survive N={n}; larger N skipped")
                break
        reused = run["n"].get(str(config.throughput_connections), {}).pop("throughput", None)
        try:
            if reused is None:
                session = session or Session(peer, loadgen, config)
            run["throughput"] = reused or measure_throughput(session, config)  # type: ignore[arg-type]
        except Exception as error:
            log(f"  {peer.name} throughput failed: {error}")
            run["throughput"] = {"error": str(error), "steps": [], "log": peer.logs()[-2000:]}
    finally:
        if session is not None:
            session.close()
        peer.teardown()
    return run
