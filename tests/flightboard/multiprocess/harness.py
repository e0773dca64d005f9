"""Processes for the multi-process tests: a site on PostgreSQL + Redis, daphne servers, a plain
WSGI server, `manage.py` writers, a private redis-server, and an admin session over HTTP.

Nothing here uses the ORM of the test process: the site is prepared and changed through
`manage.py` subprocesses and HTTP; the database and Redis are only inspected directly.
"""

from __future__ import annotations

import asyncio
import ctypes
import http.cookiejar
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.e2e.daphne_server import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
MANAGE = BASE_DIR / "manage.py"
STREAM = "flights"
# With REDIS_URL set, the hub compares the log's head with what it delivered every
# min(CATCH_UP_INTERVAL or HEARTBEAT, HEARTBEAT / 2) = 7.5 s with the default HEARTBEAT of 15 s.
LOG_CHECK = 7.5
# Anything that travels through Redis arrives far sooner than a log check.
LAYER_LATENCY = 2.0
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child, before exec: be SIGKILLed when the test process dies (killed runs leave no
    server behind)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_process(process: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 5) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    else:
        process.wait()


@dataclass
class Output:
    """A finished subprocess: return code, and stdout lines with the wall time they were read."""

    returncode: int
    lines: list[tuple[float, str]]
    stderr: str

    @property
    def stdout(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stamps(self, prefix: str) -> list[float]:
        """Times printed by the process itself on lines `PREFIX <time.time()> ...`."""
        return [float(line.split()[1]) for _, line in self.lines if line.startswith(prefix + " ")]


@dataclass
class Site:
    """The flightboard site: one PostgreSQL database, one var dir (secret key, static files)."""

    var_dir: Path
    database_url: str
    redis_url: str
    password: str = ""

    def env(self, redis_url: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        for name in (
            "DJANGO_SECRET_KEY",
            "DJANGO_DEBUG",
            "CORS_ALLOWED_ORIGINS",
            "DJANGO_LOG_LEVEL",
            "LIVEEVENTS_CONFIG",
        ):
            env.pop(name, None)
        env.update(
            DJANGO_SETTINGS_MODULE="flightboard.settings",
            DJANGO_VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.database_url,
            REDIS_URL=redis_url or self.redis_url,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    # Writers in other processes

    def manage(self, *args: str, timeout: float = 120, redis_url: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, str(MANAGE), *args],
            cwd=BASE_DIR,
            env=self.env(redis_url),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result.stdout

    async def amanage(self, *args: str, timeout: float = 180, redis_url: str | None = None) -> Output:
        """`manage.py ARGS` without blocking the event loop (the clients keep reading); stdout
        lines are stamped as they arrive. Fails on a non-zero exit."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(MANAGE),
            *args,
            cwd=BASE_DIR,
            env=self.env(redis_url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        lines: list[tuple[float, str]] = []

        async def read_stdout() -> None:
            assert process.stdout is not None
            async for raw in process.stdout:
                lines.append((time.time(), raw.decode(errors="replace").rstrip("\n")))

        async def read_stderr() -> bytes:
            assert process.stderr is not None
            return await process.stderr.read()

        try:
            _, stderr, returncode = await asyncio.wait_for(
                asyncio.gather(read_stdout(), read_stderr(), process.wait()), timeout
            )
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        output = Output(returncode, lines, stderr.decode(errors="replace"))
        if returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args[:1])} failed ({returncode}):\n--- stdout\n{output.stdout}\n"
                f"--- stderr\n{output.stderr[-5000:]}"
            )
        return output

    async def ashell(self, code: str, *, redis_url: str | None = None, timeout: float = 180) -> Output:
        """`manage.py shell -c CODE` in a separate process (its own ORM writes and layer sends)."""
        return await self.amanage("shell", "--no-imports", "-c", code, redis_url=redis_url, timeout=timeout)

    # Inspection

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def head(self, stream: str = STREAM) -> int:
        rows = self.query("SELECT last_id FROM liveevents_stream WHERE name = %s", stream)
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def flight_pk(self, code: str) -> int:
        return int(self.query("SELECT id FROM flightboard_flight WHERE flight = %s", code)[0][0])  # type: ignore[call-overload]


# Shell snippets: each prints `committed <time.time()> <id>` right after each commit (before the
# layer is told), so tests can measure commit-to-browser latency.

STAMP = """
import time
from django.db import transaction
from liveevents.models import Stream
def stamp(label='committed'):
    def print_stamp():
        print(label, time.time(), Stream.current_id('flights'), flush=True)
    transaction.on_commit(print_stamp)
"""


def save_flight_code(code: str, state: str) -> str:
    """Shell code: set flight `code`'s state with Flight.save() (one flightStateUpdate)."""
    return STAMP + (
        "from flightboard.models import Flight\n"
        "with transaction.atomic():\n"
        "    stamp()\n"
        f"    flight = Flight.objects.get(flight={code!r})\n"
        f"    flight.state = {state!r}\n"
        "    flight.save()\n"
    )


def publish_code(
    count: int, *, per_transaction: int | tuple[int, int], pause: float = 0.0, event: str = "tick"
) -> str:
    """Shell code: publish `count` events (data {"n": index}) on the flights stream, with
    `per_transaction` events per transaction (or a random number in that inclusive range),
    sleeping `pause` between transactions. publish() wakes the layer once per transaction."""
    low, high = per_transaction if isinstance(per_transaction, tuple) else (per_transaction,) * 2
    return STAMP + (
        "import random\n"
        "from liveevents.publish import publish\n"
        f"count, low, high, pause = {count}, {low}, {high}, {pause}\n"
        "first = 0\n"
        "while first < count:\n"
        "    last = min(count, first + random.randint(low, high))\n"
        "    with transaction.atomic():\n"
        "        stamp()\n"
        "        for n in range(first, last):\n"
        f"            publish('flights', {event!r}, {{'n': n}})\n"
        "    first = last\n"
        "    if pause:\n"
        "        time.sleep(pause)\n"
    )


# Servers


@dataclass
class ServerProcess:
    """A daphne (or WSGI) process serving the site on its own port, with its output in a file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name} starting on port {self.port} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [arg.replace("{port}", str(self.port)) for arg in self.args],
                preexec_fn=die_with_parent,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = error
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name} did not answer within {timeout}s ({last_error}):\n{self.log_text()}"
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 5) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, kill=kill, timeout=timeout)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self, pattern: str) -> list[str]:
        return [line for line in self.log_text().splitlines() if re.search(pattern, line)]


def daphne_args() -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "flightboard.asgi:application"]


def wsgi_args() -> list[str]:
    return [sys.executable, "-m", "tests.multiprocess.wsgi_server", "{port}"]


# A private Redis


class RedisServer:
    """`redis-server` on a free loopback port, without persistence: stoppable and restartable
    (empty again, as after a crash) without disturbing anybody else's Redis."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        assert self.process is None
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server not found: these tests start their own Redis")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)


def group_key(stream: str = STREAM) -> str:
    """channels_redis's sorted set for the stream's group (default prefix "asgi")."""
    return f"asgi:group:liveevents.{stream}"


def channel_key(channel: str) -> str:
    """channels_redis's sorted set holding the messages of a process-local channel
    ("liveevents.<client prefix>!<id>" -> "asgi" + "liveevents.<client prefix>!")."""
    return "asgi" + channel[: channel.index("!") + 1]


# The admin over HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class AdminSession:
    """A signed-in admin user driving the Django admin of one server with plain HTTP."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )
        self.username = username
        self.password = password

    def _open(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), dict(error.headers)

    @staticmethod
    def _csrf(html: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, "no CSRF token in the page"
        return match.group(1)

    def login(self) -> None:
        status, html, _ = self._open("/admin/login/?next=/admin/")
        assert status == 200, (status, html[:500])
        status, html, headers = self._open(
            "/admin/login/?next=/admin/",
            {
                "csrfmiddlewaretoken": self._csrf(html),
                "username": self.username,
                "password": self.password,
                "next": "/admin/",
            },
        )
        assert status == 302, f"login failed: {status} {html[:1000]}"

    def change_flight(self, pk: int, *, origin: str, arrival: str, state: str) -> float:
        """POST the Flight change form; return time.time() when the (committed) answer came."""
        path = f"/admin/flightboard/flight/{pk}/change/"
        status, html, _ = self._open(path)
        assert status == 200, (status, html[:500])
        status, html, headers = self._open(
            path,
            {
                "csrfmiddlewaretoken": self._csrf(html),
                "origin": origin,
                "arrival": arrival,
                "state": state,
                "_save": "Save",
            },
        )
        answered = time.time()
        assert status == 302, f"change form not accepted: {status} {html[:3000]}"
        return answered
