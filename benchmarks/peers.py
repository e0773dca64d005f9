"""The benchmark's peers: how to set up, start, stop and measure each server under test.

Every server listens on 127.0.0.1 only, on a free port, with its own temp directory. PostgreSQL
databases are created and dropped here; Redis is the shared local server on an empty DB number
(never 0), and only this run's keys are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daphne_site import BASE_DIR, MANAGE, daphne_command, free_port, rss_kib, site_env

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARED_REDIS = "redis://127.0.0.1:6379"
STREAM_PATH = "/events/flights/"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
NGINX = "/usr/sbin/nginx"
# liveevents caps streams per process (MAX_CONNECTIONS, default 10,000); the benchmark's N can reach it.
LIVEEVENTS_CONFIG = json.dumps({"MAX_CONNECTIONS": 100_000})
MAX_STREAMS = 30_000  # granian --backpressure, nginx worker_connections: above any N


def process_tree_rss_kib(pid: int) -> int:
    """VmRSS of `pid` and all its descendants (nginx's workers, granian's worker), in KiB."""
    import psutil

    total = 0
    try:
        pids = [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for one in pids:
        with contextlib.suppress(OSError, RuntimeError):
            total += rss_kib(one)
    return total


def wait_until_answers(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout} s:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout`; the process's own children (granian's worker, nginx's)
    are ended too if they outlive it."""
    import psutil

    if process is None or process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


@contextlib.contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """A new PostgreSQL database (dropped afterwards); yields its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_taken_redis_dbs: set[int] = set()
_lock = threading.Lock()


@contextlib.contextmanager
def private_redis_db() -> Iterator[str]:
    """redis://127.0.0.1:6379/<n>: an empty DB number among 15..1 that no other peer of this run
    holds; only channels_redis's keys (prefix asgi) are deleted afterwards. Never FLUSHALL, never
    DB 0."""
    import redis

    with _lock:
        for number in range(15, 0, -1):
            if number in _taken_redis_dbs:
                continue
            client = redis.Redis.from_url(f"{SHARED_REDIS}/{number}", socket_timeout=5)
            empty = client.dbsize() == 0
            client.close()
            if empty:
                _taken_redis_dbs.add(number)
                break
        else:
            raise RuntimeError("no empty Redis DB number among 1..15")
    url = f"{SHARED_REDIS}/{number}"
    try:
        yield url
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match="asgi*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        with _lock:
            _taken_redis_dbs.discard(number)


def redis_available() -> str | None:
    try:
        import redis

        redis.Redis.from_url(SHARED_REDIS, socket_timeout=2).ping()
    except Exception as error:
        return f"no Redis on 127.0.0.1:6379 ({error})"
    return None


def postgres_available() -> str | None:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as error:
        return f"no PostgreSQL on 127.0.0.1:5432 ({error})"
    return None


def module_available(name: str) -> str | None:
    import importlib.util

    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed (pip install -r benchmarks/requirements.txt)"
    return None


class Peer:
    """A server (one or more processes) serving the flights stream at /events/flights/."""

    name = ""
    system = ""  # liveevents, django-eventstream, nchan
    server = ""  # daphne, uvicorn, granian, nginx
    store = ""  # what backs replay and fan-out
    publish_path = ""  # how events are published
    processes = 1
    # Per-stream integer ids ("17", or django-eventstream's "flights:17"): each client's are checked
    # for gaps and duplicates. Nchan's ids are timestamps.
    integer_ids = True

    def __init__(self) -> None:
        self.work: Path | None = None
        self.ports: list[int] = []
        self.servers: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}
        self.stack = contextlib.ExitStack()

    def unavailable(self) -> str | None:
        return None

    def setup(self, work: Path) -> None:
        """Once per peer and run: databases, migrations, the flight that the saves update."""
        self.work = work
        work.mkdir(parents=True, exist_ok=True)

    def teardown(self) -> None:
        self.stop()
        self.stack.close()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def ping_path(self) -> str:
        return "/__bench__/ping"

    def start(self) -> None:
        assert self.work is not None
        self.ports = [free_port() for _ in range(self.processes)]
        for index, port in enumerate(self.ports):
            log = self.work / f"server-{index}.log"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    self.command(port), cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
            self.servers.append(process)
            wait_until_answers(f"http://127.0.0.1:{port}{self.ping_path()}", process, log)

    def stop(self) -> None:
        servers, self.servers = self.servers, []
        for process in servers:
            stop_process(process)

    def alive(self) -> bool:
        return bool(self.servers) and all(p.poll() is None for p in self.servers)

    def rss_kib(self) -> int:
        return sum(process_tree_rss_kib(p.pid) for p in self.servers)

    def targets(self) -> list[tuple[int, str]]:
        return [(port, STREAM_PATH) for port in self.ports]

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        """In-server saves through the first process (HTTP), unless the peer says otherwise."""
        script = str(BASE_DIR / "benchmarks" / "publisher.py")
        return [sys.executable, script, "--http", f"http://127.0.0.1:{self.ports[0]}"], self.env

    def logs(self) -> str:
        assert self.work is not None
        return "\n".join(tail(path, 10) for path in sorted(self.work.glob("server-*.log")))


class LiveeventsPeer(Peer):
    system = "liveevents"
    store = "SQLite + InMemoryChannelLayer"
    publish_path = "Flight.save() in the server process (admin-style), stamped at commit"

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server
        self.name = f"liveevents-{server}"

    def unavailable(self) -> str | None:
        return module_available(self.server)

    def site_env(self, extra: dict[str, str]) -> dict[str, str]:
        assert self.work is not None
        return site_env(
            self.work / "var",
            {"LIVEEVENTS_CONFIG": LIVEEVENTS_CONFIG, "DJANGO_LOG_LEVEL": "WARNING", **extra},
        )

    # The migrated SQLite var dir of the run's first such peer; the others copy it.
    _template: Path | None = None
    _template_lock = threading.Lock()

    def setup(self, work: Path) -> None:
        super().setup(work)
        self.env = self.site_env({})
        with LiveeventsPeer._template_lock:
            template = LiveeventsPeer._template
            if template is None or not template.exists():
                self.migrate()
                template = work.parent / "liveevents-sqlite-template"
                shutil.copytree(work / "var", template, dirs_exist_ok=True)
                LiveeventsPeer._template = template
                return
        shutil.copytree(template, work / "var", dirs_exist_ok=True)

    def migrate(self) -> None:
        manage = [sys.executable, str(MANAGE)]
        for args in (["migrate", "--noinput", "-v", "0"], ["seed_flights"]):
            subprocess.run(
                manage + args, cwd=BASE_DIR, env=self.env, check=True, capture_output=True, timeout=300
            )
        create = (
            "import datetime\nfrom flightboard.models import Flight\n"
            "Flight.objects.get_or_create(flight='BENCH1', defaults={'origin': 'Benchmark',"
            " 'arrival': datetime.time(23, 59)})"
        )
        subprocess.run(
            manage + ["shell", "--no-imports", "-c", create],
            cwd=BASE_DIR, env=self.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def command(self, port: int) -> list[str]:
        app = "benchmarks.liveevents_asgi:application"
        if self.server == "daphne":
            return daphne_command(port, app)
        if self.server == "uvicorn":
            return [
                sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                "--http", "httptools", "--loop", "uvloop",
                "--no-access-log", "--lifespan", "off", "--log-level", "warning",
            ]  # fmt: skip
        if self.server == "granian":
            # --backpressure: granian serves at most backlog/workers (1024) requests at once by default.
            return [
                sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--backpressure", str(MAX_STREAMS),
                "--log-level", "warning", "--no-ws", app,
            ]  # fmt: skip
        raise ValueError(self.server)


class LiveeventsRedisPeer(LiveeventsPeer):
    store = "PostgreSQL + channels_redis, 2 processes"
    publish_path = "Flight.save() in a separate process, stamped at commit"
    processes = 2

    def __init__(self) -> None:
        super().__init__("daphne")
        self.name = "liveevents-redis"

    def unavailable(self) -> str | None:
        return redis_available() or postgres_available()

    def setup(self, work: Path) -> None:
        Peer.setup(self, work)
        database = self.stack.enter_context(fresh_database(f"bench_run_liveevents_{os.getpid()}"))
        redis_url = self.stack.enter_context(private_redis_db())
        self.env = self.site_env({"DATABASE_URL": database, "REDIS_URL": redis_url})
        self.migrate()

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        script = str(BASE_DIR / "benchmarks" / "publisher.py")
        return [sys.executable, script, "--django", "liveevents"], self.env


class EventstreamPeer(Peer):
    system = "django-eventstream"
    server = "daphne"
    store = "SQLite (DjangoModelStorage), local listeners"
    publish_path = "Flight.save() in the server process (admin-style), send_event on commit"

    def __init__(self, redis: bool = False, postgres: bool = False) -> None:
        super().__init__()
        self.redis = redis
        self.postgres = postgres
        self.name = "eventstream-daphne"
        if redis:
            # SQLite by default: on PostgreSQL every open stream holds a database connection (its
            # request thread's, until the response ends), so it stops at max_connections (100).
            self.name = "eventstream-redis-pg" if postgres else "eventstream-redis"
            database = "PostgreSQL" if postgres else "SQLite"
            self.store = f"{database} (DjangoModelStorage) + Redis pub/sub, 2 processes"
            self.publish_path = "Flight.save() in a separate process, send_event on commit"
            self.processes = 2

    def unavailable(self) -> str | None:
        missing = module_available("django_eventstream")
        if missing or not self.redis:
            return missing
        return redis_available() or (postgres_available() if self.postgres else None)

    def setup(self, work: Path) -> None:
        super().setup(work)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.eventstream_site.settings",
            EVENTSTREAM_VAR_DIR=str(work / "var"),
            PYTHONUNBUFFERED="1",
            DJANGO_LOG_LEVEL="WARNING",
        )
        if self.postgres:
            env["DATABASE_URL"] = self.stack.enter_context(
                fresh_database(f"bench_run_eventstream_{os.getpid()}")
            )
        if self.redis:
            env["REDIS_URL"] = self.stack.enter_context(private_redis_db())
        self.env = env
        django = [sys.executable, "-m", "django"]
        subprocess.run(
            django + ["migrate", "--run-syncdb", "--noinput", "-v", "0"],
            cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        create = (
            "import datetime\nfrom benchmarks.eventstream_site.models import Flight\n"
            "Flight.objects.get_or_create(flight='BENCH1', defaults={'origin': 'Benchmark',"
            " 'arrival': datetime.time(23, 59)})"
        )
        subprocess.run(
            django + ["shell", "--no-imports", "-c", create],
            cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def command(self, port: int) -> list[str]:
        app = "benchmarks.eventstream_site.asgi:application"
        # daphne's default listen backlog (50), unlike liveevents' 4,096: the kernel then meters a
        # reconnect storm, which django-eventstream needs. With 4,096 the whole storm reaches its
        # views at once and they time out (a trial: 0 of 1,000 replayed within 120 s).
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        if not self.redis:
            return super().publisher_command()
        script = str(BASE_DIR / "benchmarks" / "publisher.py")
        return [sys.executable, script, "--django", "eventstream"], self.env


NGINX_CONF = """\
load_module {module};
worker_processes 1;
worker_rlimit_nofile {nofile};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp-body;
  proxy_temp_path {prefix}/tmp-proxy;
  fastcgi_temp_path {prefix}/tmp-fastcgi;
  uwsgi_temp_path {prefix}/tmp-uwsgi;
  scgi_temp_path {prefix}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /__bench__/ping {{ return 200 "ok\\n"; }}
    location = /pub {{
      nchan_publisher;
      nchan_channel_id flights;
      nchan_message_buffer_length 10000;
      nchan_message_timeout 1h;
    }}
    location = /events/flights/ {{
      nchan_subscriber eventsource;
      nchan_channel_id flights;
      nchan_subscriber_first_message newest;
      nchan_message_buffer_length 10000;
      nchan_message_timeout 1h;
    }}
  }}
}}
"""


class NchanPeer(Peer):
    name = "nchan"
    system = "Nchan"
    server = "nginx (1 worker)"
    store = "Nchan memory store (10,000-message buffer)"
    publish_path = "HTTP POST to Nchan's publisher location, stamped when sent"
    integer_ids = False

    def unavailable(self) -> str | None:
        if not Path(NGINX).exists() or not NCHAN_MODULE.exists():
            return "no nginx with the Nchan module (apt-get install nginx-light libnginx-mod-nchan)"
        return None

    def command(self, port: int) -> list[str]:
        assert self.work is not None
        prefix = self.work / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        import resource

        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        conf.write_text(
            NGINX_CONF.format(
                module=NCHAN_MODULE, prefix=prefix, port=port, nofile=nofile,
                connections=min(MAX_STREAMS, nofile - 100),
            )
        )  # fmt: skip
        return [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        script = str(BASE_DIR / "benchmarks" / "publisher.py")
        return [sys.executable, script, "--nchan", f"http://127.0.0.1:{self.ports[0]}/pub"], dict(os.environ)


def all_peers() -> dict[str, Peer]:
    """Every peer, fresh; DEFAULT_PEERS run unless --peers says otherwise."""
    peers: list[Peer] = [
        LiveeventsPeer("daphne"),
        LiveeventsPeer("uvicorn"),
        LiveeventsPeer("granian"),
        LiveeventsRedisPeer(),
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
    "eventstream-daphne",
    "eventstream-redis",
    "nchan",
]


def versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {"python": sys.version.split()[0]}
    packages = (
        "Django", "channels", "channels-redis", "daphne", "Twisted", "uvicorn", "httptools", "uvloop",
        "granian", "django-eventstream", "redis", "psycopg", "matplotlib",
    )  # fmt: skip
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    if Path(NGINX).exists():
        result = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
        out["nginx"] = (result.stderr or result.stdout).strip().split("/")[-1]
    if shutil.which("dpkg-query"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"], capture_output=True, text=True
        )
        if result.returncode == 0:
            out["nchan (Debian package)"] = result.stdout.strip()
    if shutil.which("redis-server"):
        result = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        out["redis-server"] = result.stdout.split()[2].removeprefix("v=") if result.stdout else "?"
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgresql"] = str(row[0]) if row else "?"
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    import platform

    info["kernel"] = platform.release()
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info
