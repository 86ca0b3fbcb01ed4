"""What every benchmark needs: a production-like server, a load generator, a results table.

    from bench.common import Server, load, print_table, setup_django

    with Server() as server:                 # gunicorn + PostgreSQL "bench" + Redis db 15
        setup_django()                       # this process talks to the same database
        ...create rows with the ORM...
        health = load(server.url("/api/health"), name="health")
        me = load(server.url("/api/members/me"), headers={"Authorization": f"Bearer {token}"})
        print_table([health, me], baseline=health)

The server is ``gunicorn backend.wsgi -w 2 -k sync`` with ``DJANGO_DEBUG=false`` against a
dedicated PostgreSQL database ``bench`` (created when missing, migrated and seeded) and Redis
database 15, with the WeChat sandbox as a subprocess when it exists.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``): it is written in C
and leaves nearly all of the 2 cores to the server, so the figures measure the server. Without
it a pure-Python asyncio generator (HTTP/1.1 keep-alive over raw sockets) takes over; it costs
the server some CPU, so its absolute figures are lower, while ratios between endpoints
measured the same way stay comparable. ``BENCH_LOADER=python`` forces the Python generator.

Environment: ``BENCH_DURATION`` (seconds per measurement, default 10), ``BENCH_CONNECTIONS``
(default 64), ``BENCH_WORKERS`` (gunicorn workers, default 2), ``BENCH_THREADS`` (threads per
gthread worker, default 1), ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/bench``), ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``).
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
BROKER_QUEUE = "bench"
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, *, process: subprocess.Popen | None = None, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def ensure_database(database_url: str = DATABASE_URL) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist."""
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def server_env(**overrides) -> dict[str, str]:
    """The production-like environment of the benchmark server (and of this process)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "WECHAT_APPID": "wx-sandbox-appid",
        "WECHAT_SECRET": "sandbox-secret",
        "WECHAT_PAY_MCH_ID": "1900000109",
        "WECHAT_PAY_API_KEY": "sandbox-pay-api-key-0123456789abcd",
        "PYTHONUNBUFFERED": "1",
        # As in production, tasks (a flash order's expiry countdown, notifications) are
        # published to a broker, not run inside the request. Nothing consumes this queue; it
        # is emptied before and after each run (broker_queue_purge).
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": BROKER_QUEUE,
    }
    env.update(overrides)
    return env


_django_ready = False


def broker_queue_purge() -> None:
    """Drop the tasks the benchmark server published (nothing runs them)."""
    from kombu import Connection

    with Connection(BROKER_URL, connect_timeout=3) as connection:
        channel = connection.channel()
        channel.queue_declare(queue=BROKER_QUEUE, durable=True, auto_delete=False)
        channel.queue_purge(BROKER_QUEUE)


def setup_django(env: dict[str, str] | None = None) -> None:
    """Configure Django in this process with the server's environment (same DB, same keys)."""
    global _django_ready
    if _django_ready:
        return
    for key, value in (env or server_env()).items():
        os.environ[key] = value
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    _django_ready = True


class Server:
    """gunicorn on a free port, with the sandbox, migrated and (unless ``seed=False``) seeded.

    ``workers`` and ``worker_class`` are gunicorn's (``sync`` by default, as in production;
    ``gthread`` to compare). ``ops_workers`` starts a second gunicorn of that many workers on
    ``ops_port``, the health-check listener. ``env`` adds or overrides environment variables
    (for example ``DATABASE_URL``). ``server.url(path)`` builds a URL; ``server.manage(*args)``
    runs a management command against the benchmark database.
    """

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        worker_class: str = "sync",
        env: dict | None = None,
        seed: bool = True,
        ops_workers: int = 0,
    ):
        self.port = free_port()
        # The load balancer's health checks go to a gunicorn of their own (see README,
        # "In production"), so a saturated pool cannot make them time out.
        self.ops_workers = ops_workers
        self.ops_port = free_port() if ops_workers else None
        self.ops = None
        self.sandbox_port = free_port()
        self.workers = workers
        self.worker_class = worker_class
        self.seed = seed
        self.env = server_env(
            WECHAT_SANDBOX_PORT=str(self.sandbox_port),
            WECHAT_API_ROOT=f"http://127.0.0.1:{self.sandbox_port}/",
            WECHAT_PAY_NOTIFY_URL=f"http://127.0.0.1:{self.port}/api/payments/wechat/notify",
            **(env or {}),
        )
        self._processes: list[subprocess.Popen] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def _spawn(self, command, *, quiet=False):
        output = subprocess.DEVNULL if quiet else None
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, start_new_session=True, stdout=output, stderr=output
        )
        self._processes.append(process)
        return process

    def __enter__(self):
        try:
            ensure_database(self.env["DATABASE_URL"])
            broker_queue_purge()
            self.manage("migrate", "--noinput", "-v", "0")
            if self.seed:
                self.manage("seed_demo")
            sandbox = self.sandbox = self._spawn(
                [sys.executable, "-m", "backend.wechat_sandbox", "--port", str(self.sandbox_port)],
                quiet=True,  # one access-log line per call
            )
            wait_until_up(f"http://127.0.0.1:{self.sandbox_port}/sandbox/health", process=sandbox)
            gunicorn = self.gunicorn = self._spawn(
                self._gunicorn_command(self.port, self.workers, self.worker_class)
            )
            wait_until_up(self.url("/api/health"), process=gunicorn)
            if self.ops_workers:
                self.ops = self._spawn(
                    self._gunicorn_command(self.ops_port, self.ops_workers, "sync")
                )
                wait_until_up(f"http://127.0.0.1:{self.ops_port}/api/health", process=self.ops)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _gunicorn_command(port: int, workers: int, worker_class: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "backend.wsgi",
            "-w",
            str(workers),
            "-k",
            worker_class,
            "-b",
            f"127.0.0.1:{port}",
            "--threads",
            str(THREADS),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]

    def __exit__(self, *exc_info):
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        with contextlib.suppress(Exception):
            broker_queue_purge()


# --- Where the CPU went -------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds) of a process, from /proc (Linux)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_by_part(server: "Server") -> dict[str, float]:
    """CPU seconds used so far by each part of the system under test, by process.

    gunicorn (master and workers; the health-check listener apart), the WeChat sandbox,
    PostgreSQL, Redis, RabbitMQ, and this process (the load generator). Subtract two readings to
    see where a phase's CPU went.
    """
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    parts = {"gunicorn": 0.0, "sandbox": 0.0, "postgres": 0.0, "redis": 0.0, "rabbitmq": 0.0}
    if server.ops is not None:
        parts["ops gunicorn"] = 0.0
    for pid, (command, parent, seconds) in stats.items():
        if pid == server.gunicorn.pid or parent == server.gunicorn.pid:
            parts["gunicorn"] += seconds
        elif server.ops is not None and server.ops.pid in (pid, parent):
            parts["ops gunicorn"] += seconds
        elif pid == server.sandbox.pid:
            parts["sandbox"] += seconds
        elif command == "postgres":
            parts["postgres"] += seconds
        elif command.startswith("redis-server"):
            parts["redis"] += seconds
        elif command == "beam.smp":
            parts["rabbitmq"] += seconds
    parts["load generator"] = stats.get(os.getpid(), ("", 0, 0.0))[2]
    return parts


class CpuSampler:
    """Reads ``cpu_by_part`` every ``interval`` seconds in a thread while in its ``with`` block;
    ``shares(start, end)`` then says how the CPU used between two ``perf_counter`` times was
    shared between the parts, from the samples nearest to them."""

    def __init__(self, server: "Server", interval: float = 0.1):
        self.server = server
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while True:
            self.samples.append((time.perf_counter(), cpu_by_part(self.server)))
            if self._stop.wait(self.interval):
                self.samples.append((time.perf_counter(), cpu_by_part(self.server)))
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def shares(self, start: float, end: float, requests: int = 0) -> str:
        """Each part's share of the CPU used between two moments and, given the requests
        answered meanwhile, its CPU milliseconds per request."""

        def nearest(moment):
            return min(self.samples, key=lambda sample: abs(sample[0] - moment))[1]

        before, after = nearest(start), nearest(end)
        used = {part: after[part] - before[part] for part in after}
        total = sum(used.values()) or 1.0
        shares = []
        for part, seconds in used.items():
            per_request = f" ({1000 * seconds / requests:.2f} ms)" if requests else ""
            shares.append(f"{part} {100 * seconds / total:.0f} %{per_request}")
        return ", ".join(shares)


# --- One request per connection, each request once ----------------------------------------------
# For scenarios where every request is different and must be sent exactly once (one grab or
# claim per member, one redemption per coupon). gunicorn's sync workers close every connection
# anyway, so this costs the server what a real crowd costs it.


@dataclass
class Hit:
    started: float
    ended: float
    status: int
    code: str | None

    @property
    def ms(self):
        return (self.ended - self.started) * 1000


def raw_request(method, path, token=None, body: dict | None = None, headers=None) -> bytes:
    """The bytes of one HTTP/1.1 request, with a bearer token and a JSON body when given."""
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if method != "GET":
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def send_request(port, raw: bytes) -> tuple[int, str | None]:
    """Send one request on a new connection; the status and, for an error, its ``code``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    code = None
    if status >= 400 and body:
        try:
            code = json.loads(body).get("code")
        except ValueError:
            code = None
    return status, code


async def fire_async(port, requests: list[bytes], connections: int) -> list[Hit]:
    """Send every request once, ``connections`` at a time."""
    hits: list[Hit] = []
    queue = iter(requests)

    async def worker():
        for raw in queue:
            started = time.perf_counter()
            try:
                status, code = await send_request(port, raw)
            except OSError:
                status, code = 0, "connection_error"
            hits.append(Hit(started, time.perf_counter(), status, code))

    await asyncio.gather(*(worker() for _ in range(connections)))
    return hits


async def health_probe(port, stop: asyncio.Event | None, count: int | None = None) -> list[Hit]:
    """One connection asking for /api/health again and again (every 10 ms) until ``stop`` is
    set or ``count`` answers came back: what any other user of the same pool sees."""
    hits = []
    raw = raw_request("GET", "/api/health")
    while (stop is None or not stop.is_set()) and (count is None or len(hits) < count):
        started = time.perf_counter()
        status, code = await send_request(port, raw)
        hits.append(Hit(started, time.perf_counter(), status, code))
        await asyncio.sleep(0.01)
    return hits


def answers(hits: list[Hit]) -> dict[str, int]:
    """How many hits got each answer ("201", "409 sold_out", ...), sorted by answer."""
    return dict(sorted(Counter(f"{hit.status} {hit.code or ''}".strip() for hit in hits).items()))


def unified_order_delay(server: "Server", *, count: int, seconds: float) -> None:
    """The sandbox's next ``count`` unified orders wait ``seconds`` before answering."""
    from backend.wechat_sandbox.control import SandboxControl

    SandboxControl(f"http://127.0.0.1:{server.sandbox_port}/").fault(
        "delay", count=count, path="/pay/unifiedorder", delay_s=seconds
    )


def fire(port, requests: list[bytes], connections: int) -> list[Hit]:
    return asyncio.run(fire_async(port, requests, connections))


def percentile(values, share):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Phase:
    """The figures of a run of requests."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0


def phase(name, hits: list[Hit], start=None, end=None) -> Phase:
    """Requests/s, p50 and p99 of ``hits``, over ``start``-``end`` (default: first to last)."""
    if not hits:
        return Phase(name, 0, 0.0, float("nan"), float("nan"))
    start = min(hit.started for hit in hits) if start is None else start
    end = max(hit.ended for hit in hits) if end is None else end
    latencies = [hit.ms for hit in hits]
    return Phase(
        name, len(hits), end - start, percentile(latencies, 0.5), percentile(latencies, 0.99)
    )


# --- Load ---------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    method: str = "GET"
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    errors: int = 0
    loader: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok_share(self) -> float:
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return ok / self.requests if self.requests else 0.0


def load(
    target: str | list[Request],
    *,
    base_url: str = "",
    name: str = "",
    connections: int = CONNECTIONS,
    duration: float = DURATION,
    method: str = "GET",
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    loader: str | None = None,
) -> LoadResult:
    """Load the server with keep-alive connections for ``duration`` seconds.

    ``target`` is a URL (``server.url(path)``) with ``method``/``body``/``headers``, or a list
    of ``Request`` (paths under ``base_url``) that each connection cycles through, for example
    one token per simulated member.
    """
    if isinstance(target, str):
        parts = urllib.parse.urlsplit(target)
        base_url = f"{parts.scheme}://{parts.netloc}"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        requests = [Request(path, method, body, dict(headers or {}))]
    else:
        requests = target
    name = name or requests[0].path
    loader = (
        loader or os.environ.get("BENCH_LOADER") or ("wrk" if shutil.which("wrk") else "python")
    )
    if loader == "wrk":
        return _load_wrk(requests, base_url, name, connections, duration)
    return asyncio.run(_load_python(requests, base_url, name, connections, duration))


def _lua_string(value) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


_WRK_SCRIPT = """
local specs = {%(specs)s}
local compiled = {}
local index = 0
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, spec in ipairs(specs) do
    compiled[i] = wrk.format(spec[1], spec[2], spec[3], spec[4])
  end
  index = math.random(#compiled) - 1
end

function request()
  index = index %% #compiled + 1
  return compiled[index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, '"' .. status .. '":' .. n) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'BENCH_RESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,'
    .. '"errors":%%d,"statuses":{%%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors, table.concat(parts, ",")))
end
"""


def _load_wrk(requests, base_url, name, connections, duration) -> LoadResult:
    specs = []
    for request in requests:
        headers = (
            "{"
            + ",".join(f"[{_lua_string(k)}]={_lua_string(v)}" for k, v in request.headers.items())
            + "}"
        )
        body = _lua_string(request.body) if request.body is not None else "nil"
        specs.append(
            f"{{{_lua_string(request.method)},{_lua_string(request.path)},{headers},{body}}}"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % {"specs": ",".join(specs)})
    try:
        completed = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                base_url + requests[0].path,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    match = re.search(r"BENCH_RESULT (\{.*\})", completed.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(match.group(1))
    return LoadResult(
        name=name,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses={int(status): n for status, n in data["statuses"].items()},
        errors=data["errors"],
        loader="wrk",
    )


async def _load_python(requests, base_url, name, connections, duration) -> LoadResult:
    parts = urllib.parse.urlsplit(base_url)
    host, port = parts.hostname, parts.port or 80
    payloads = []
    for request in requests:
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in request.headers.items()]
        if body or request.method not in ("GET", "HEAD"):
            head.append(f"Content-Length: {len(body)}")
        payloads.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    latencies: list[float] = []
    statuses: Counter = Counter()
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker(offset):
        nonlocal errors
        reader = writer = None
        index = offset
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                payload = payloads[index % len(payloads)]
                index += 1
                started = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    key = key.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if close:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def percentile(share):
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    return LoadResult(
        name=name,
        requests=len(latencies),
        seconds=seconds,
        p50_ms=percentile(0.50),
        p99_ms=percentile(0.99),
        statuses=dict(statuses),
        errors=errors,
        loader="python",
    )


# --- Report -------------------------------------------------------------------------------------


def print_table(
    results: list[LoadResult],
    *,
    baseline: LoadResult | None = None,
    goals: dict[str, float] | None = None,
    title: str = "",
) -> None:
    """One line per result: requests/s, p50, p99, statuses and the ratio to ``baseline``."""
    goals = goals or {}
    if title:
        print(f"\n{title}")
    header = (
        f"{'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7} {'goal':>6}"
        "  statuses"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        ratio = result.rps / baseline.rps if baseline and baseline.rps else None
        goal = goals.get(result.name)
        verdict = ""
        if goal is not None and ratio is not None:
            verdict = "ok" if ratio >= goal else "MISSED"
        statuses = " ".join(f"{status}:{n}" for status, n in sorted(result.statuses.items()))
        if result.errors:
            statuses += f" errors:{result.errors}"
        print(
            f"{result.name:<28} {result.rps:>9.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>7} "
            f"{(f'{goal:.2f}x' if goal is not None else '-'):>6}  {statuses} {verdict}"
        )
    if results:
        print(f"(load: {results[0].loader}, {CONNECTIONS} connections, {DURATION:.0f} s each)")
