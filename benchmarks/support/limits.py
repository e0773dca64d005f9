"""The open-file limit (RLIMIT_NOFILE): one per socket, and thousands of streams need as many."""

from __future__ import annotations

import resource


def raise_open_files(wanted: int | None = None) -> tuple[int, int]:
    """Raise the soft limit to `wanted` (at most the hard limit; the hard limit itself if None);
    processes started afterwards inherit it. Returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None else wanted
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
