"""What benchmarks/slow_client.py prints: per server, then a summary table."""

from __future__ import annotations

MIB = 1024


def mib(kib: object) -> str:
    return f"{int(kib) / MIB:.1f}"  # type: ignore[call-overload]


def report(results: list[dict[str, object]], events: int) -> None:
    for r in results:
        print(f"\n== {r['server']} ==")
        print(f"  slow client SO_RCVBUF (kernel, after doubling): {r['rcvbuf']} bytes")
        print(f"  RSS before: {mib(r['rss_before'])} MiB")
        for mark, rss, normal_last, seconds in r["marks"]:  # type: ignore[union-attr]
            behind = (mark + r["base"]) - (normal_last or r["base"])  # type: ignore[operator]
            print(
                f"  after {mark:>6} events published (t={seconds:5.1f} s): RSS {mib(rss)} MiB, "
                f"normal client {behind} events behind the publisher"
            )
        print(
            f"  published in {r['publish_seconds']:.1f} s; "
            f"normal client had all at t={r['deliver_seconds']:.1f} s"
        )
        print(
            f"  RSS after delivery (+2 s): {mib(r['rss_after'])} MiB; "
            f"peak sampled {mib(r['rss_peak_sampled'])} MiB, VmHWM {mib(r['rss_hwm'])} MiB"
        )
        print("  slow connection, kernel state over time (ss, polled every second; t from first publish):")
        for at, state in r["slow_changes"]:  # type: ignore[union-attr]
            print(f"    t={at:6.1f} s  {state}")
        print(f"  largest server-side Send-Q seen: {r['max_server_send_q']} bytes")
        print(f"  slow connection before it read: {r['slow_queues_before_read']}")
        s = r["slow_read"]
        ids = s["ids"]  # type: ignore[index]
        how = (
            "end of response (chunked terminator)"
            if s["complete_response"]  # type: ignore[index]
            else "EOF/reset"
            if s["eof"]  # type: ignore[index]
            else "still open"
        )
        print(
            f"  slow client read {s['bytes'] / 1e6:.1f} MB in {s['seconds']:.1f} s: {len(ids)} events, "  # type: ignore[index,operator]
            f"last id {ids[-1] if ids else None} of {r['final']}, then {how}; sequence {r['slow_sequence']}"
        )
        print(f"  slow connection after it read: {r['slow_queues_after_read']}")
        print(f"  RSS after the slow client read: {mib(r['rss_after_slow_read'])} MiB")
        if "reconnect" in r:
            again = r["reconnect"]
            print(
                f"  slow client reconnected with Last-Event-ID: HTTP {again['status']}, "  # type: ignore[index]
                f"{len(again['ids'])} events in {again['seconds']:.1f} s, resets {again['resets']}; "  # type: ignore[index]
                f"rest of the stream: {r['reconnect_sequence']}"
            )
        print(
            f"  normal client: {r['normal_received']} events ({r['normal_sequence']}), "
            f"reconnects {r['normal_reconnects']}, resets {r['normal_resets']}, errors {r['normal_errors']}"
        )
        if r.get("over_capacity"):
            print(
                f"  publisher: channels_redis logged 'over capacity' {r['over_capacity']} times (wake-ups "
                "dropped by the layer; the hub catches up from the log)"
            )
        if r.get("publisher_tracebacks"):
            print(f"  publisher: {r['publisher_tracebacks']} tracebacks in its stderr")
        for line in r["log_slow"]:  # type: ignore[union-attr]
            print(f"  server log about the slow client (written when its response ended): {line}")
        if r["log_tracebacks"]:
            print(f"  server log: {r['log_tracebacks']} tracebacks; the first:\n{r['log_tail']}")

    print(f"\nSummary ({events} events)")
    print(
        f"  {'server':<16} {'RSS before':>10} {'peak':>7} {'VmHWM':>7} {'after':>7} {'after read':>10}  "
        f"{'slow client cut off':<26} {'normal got':>10} {'publish s':>9} {'all to normal s':>15}"
    )
    for r in results:
        peak = max(r["rss_peak_sampled"], r["rss_after"])  # type: ignore[type-var]
        print(
            f"  {r['server']:<16} {mib(r['rss_before']):>10} {mib(peak):>7} {mib(r['rss_hwm']):>7} "
            f"{mib(r['rss_after']):>7} {mib(r['rss_after_slow_read']):>10}  "
            f"{r['cut_off_how']:<26} {r['normal_received']:>10} "
            f"{r['publish_seconds']:>9.1f} {r['deliver_seconds']:>15.1f}"
        )
    print(
        "  (RSS in MiB: before publishing, peak of the 0.2 s sampler, VmHWM (the kernel's high-water\n"
        "   mark) at the end, once the normal client had all, after the slow client read;\n"
        "   cut off: t = seconds after the first publish at which the connection left ESTABLISHED\n"
        "   while the client read nothing; 'on read': ended only once it read)"
    )
