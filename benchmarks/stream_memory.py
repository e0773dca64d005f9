"""Server memory per idle connection: one following a stream against one following several.

    python -m benchmarks.stream_memory [--connections 2000] [--server daphne|uvicorn]

Each case gets a fresh server (flightboard with two more public streams, benchmarks/multiplex_asgi);
N connections open and are held idle; the server's settled RSS before and after, divided by N, is
the cost of a connection. Printed as a table with the ratio to the one-stream case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from benchmarks.support.limits import raise_open_files
from benchmarks.support.memory import rss_kib, settled_kib
from benchmarks.support.raw_http import stream_request
from benchmarks.support.servers import ServerProcess, daphne_command, uvicorn_command
from benchmarks.support.sites import Site

APP = "benchmarks.multiplex_asgi:application"
CASES = {
    "1 stream (/events/flights/)": "/events/flights/",
    "1 stream (/events/?stream=flights)": "/events/?stream=flights",
    "2 streams": "/events/?stream=flights&stream=announcements",
    "4 streams": "/events/?stream=flights&stream=announcements&stream=bench.a&stream=bench.b",
}


async def open_idle(port: int, path: str, count: int, concurrency: int = 200) -> list[asyncio.StreamWriter]:
    """`count` connections to `path`, each held once its first bytes (`retry:`) arrived."""
    gate = asyncio.Semaphore(concurrency)
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(stream_request(port, path))
            received = b""
            while b"retry:" not in received:
                chunk = await asyncio.wait_for(reader.read(4096), 30)
                if not chunk:
                    raise ConnectionError(f"{path}: closed before its first bytes: {received[:200]!r}")
                received += chunk
            writers.append(writer)

    await asyncio.gather(*(one() for _ in range(count)))
    return writers


def measure(site: Site, server: str, path: str, count: int, work: Path) -> float:
    """KiB of server RSS per idle connection to `path`."""
    command = (
        (lambda port: daphne_command(port, APP, backlog=4096))
        if server == "daphne"
        else (lambda port: uvicorn_command(port, APP, "--http", "httptools", "--loop", "uvloop"))
    )
    process = ServerProcess(server, command, site.env(), work / f"{server}.log", ready_path="/")
    process.start()
    try:
        # A first connection opens the streams and warms the code paths up.
        async def run() -> float:
            warm = await open_idle(process.port, path, 10)
            await asyncio.sleep(1)
            before = await asyncio.to_thread(settled_kib, lambda: rss_kib(process.pid), 10)
            held = await open_idle(process.port, path, count)
            await asyncio.sleep(2)
            after = await asyncio.to_thread(settled_kib, lambda: rss_kib(process.pid), 10)
            for writer in [*warm, *held]:
                writer.transport.abort()
            return (after - before) / count

        return asyncio.run(run())
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_memory", description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument(
        "--cases", type=int, default=len(CASES), help=f"the first N cases only (default all {len(CASES)})"
    )
    args = parser.parse_args(argv)
    raise_open_files(args.connections * 2 + 1000)
    with tempfile.TemporaryDirectory(prefix="stream-memory-") as tmp:
        work = Path(tmp)
        site = Site(work / "var", settings={"LIVEEVENTS_CONFIG": json.dumps({"MAX_CONNECTIONS": 100_000})})
        site.prepare()
        cases = dict(list(CASES.items())[: args.cases])
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, path in cases.items():
                results[name].append(measure(site, args.server, path, args.connections, work))
    base = min(results[next(iter(CASES))])
    print(f"{args.server}, {args.connections} idle connections per case, {args.repeat} run(s), best of runs")
    print(f"| connection | KiB per connection | ratio to {next(iter(CASES))} |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {min(values):.1f} | {min(values) / base:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
