"""One server process recording liveevents metrics in prometheus_client's multiprocess mode; print
a JSON report.

Run by tests/liveevents/test_metrics.py, twice, with PROMETHEUS_MULTIPROC_DIR shared: the first
process records and exits, the second records and prints the exposition, which sums them.
"""

from __future__ import annotations

import argparse
import json

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=0, help="connections open on `bulletins`")
    parser.add_argument("--bytes", type=int, default=0, help="bytes written")
    parser.add_argument("--expose", action="store_true", help="report the exposition")
    args = parser.parse_args()
    django.setup()
    from liveevents.metrics import exposition, get_metrics, multiprocess

    metrics = get_metrics()
    for _ in range(args.connections):
        metrics.stream("bulletins").connections.inc()
    metrics.bytes_written.inc(args.bytes)
    report: dict[str, object] = {"multiprocess": multiprocess()}
    if args.expose:
        exposed = exposition(None)
        assert exposed is not None
        report["exposition"] = exposed[0].decode()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
