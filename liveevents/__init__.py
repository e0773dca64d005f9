"""Live Server-Sent Event streams fed by Django model changes, with a replayable event log."""

from __future__ import annotations

__version__ = "0.2.0"
