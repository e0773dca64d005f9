"""Ages a hub's membership of the flights group past any expiry, then saves a flight at once, in
one process: `python -m tests.flightboard.multiprocess.expire_and_save CHANNEL FLIGHT STATE`.

channels_redis drops group members older than group_expiry when it sends to the group, so the
save's wake-up reaches nobody. Prints `committed <time> <head>`, then `member after send: <score>`.
"""

from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    channel, code, state = sys.argv[1:4]
    django.setup()
    import redis

    from benchmarks.support.site_commands import save_flights
    from liveevents.wakeup import flush_wake_ups
    from tests.flightboard.multiprocess.harness import group_key

    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    store.zadd(group_key(), {channel: time.time() - 86400 - 60})  # a day and a minute old
    save_flights([code], states=[state])
    flush_wake_ups()  # the wake-up leaves in the background: read the group once it has been sent
    print("member after send:", store.zscore(group_key(), channel), flush=True)


if __name__ == "__main__":
    main()
