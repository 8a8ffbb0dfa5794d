"""Real processes for the scale tests and the benchmarks: PostgreSQL databases, a private Redis,
daphne and Celery worker processes, a TCP proxy that can cut a connection, all on loopback.

Everything here is bounded: every wait has a timeout (seconds), every process is started in its
own session so ``stop()`` ends exactly it and its children (by process-group id), and every
listener binds 127.0.0.1. The callers (pytest fixtures, ``benchmarks.*``) stop what they start.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
PG_ADMIN_URL = os.environ.get("JR_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class HarnessError(RuntimeError):
    """A process did not come up (the message carries the tail of its log)."""


def pct(values, p: float) -> float:
    """The ``p``-th percentile (0–100) of ``values``, linearly interpolated; NaN when empty."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.1f} s")
        time.sleep(interval)


# ------------------------------------------------------------------ processes


class Proc:
    """One child process in its own session; output goes to ``log_path``."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path, cwd: Path = REPO):
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log_path = Path(log_dir) / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        finally:
            log.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (bytes)."""
        import psutil

        try:
            p = psutil.Process(self.pid)
            return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
        except psutil.NoSuchProcess:
            return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its live children (s)."""
        import psutil

        try:
            p = psutil.Process(self.pid)
            procs = [p, *p.children(recursive=True)]
            return sum(sum(q.cpu_times()[:2]) for q in procs)
        except psutil.NoSuchProcess:
            return 0.0

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)  # the session we created: this process and its children
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, not a shutdown)."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` s; always leaves nothing of the group running."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)  # stragglers (pool children) of the same group
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_log(self, text: str, timeout: float) -> None:
        def seen():
            if not self.alive():
                raise HarnessError(f"{self.name} exited (rc={self.popen.returncode}):\n{self.tail()}")
            return text in self.tail(200_000)

        try:
            wait_until(seen, timeout, 0.1, f"{self.name} printing {text!r}")
        except TimeoutError as exc:
            raise HarnessError(f"{exc}\n{self.tail()}") from None

    def wait_port(self, port: int, timeout: float) -> None:
        def up():
            if not self.alive():
                raise HarnessError(f"{self.name} exited (rc={self.popen.returncode}):\n{self.tail()}")
            return port_open(port)

        try:
            wait_until(up, timeout, 0.1, f"{self.name} listening on {port}")
        except TimeoutError as exc:
            raise HarnessError(f"{exc}\n{self.tail()}") from None


class RedisServer:
    """A private redis-server on a spare loopback port (never the shared 6379): no persistence,
    so a restart is a real loss of everything Redis held (channel layer groups, queued tasks)."""

    def __init__(self, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.log_dir = Path(log_dir)
        self.proc: Proc | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
        self.proc = Proc(f"redis-{self.port}", argv, dict(os.environ), self.log_dir)
        self.proc.wait_port(self.port, 10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            wait_until(lambda: not port_open(self.port), 5, what=f"redis {self.port} down")

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


class TcpProxy:
    """A loopback TCP forwarder to ``target`` that can be cut: ``cut()`` resets every open
    connection and makes new ones close at once (the service is unreachable); ``restore()``
    forwards again. Used in front of PostgreSQL."""

    def __init__(self, target_port: int, target_host: str = LOOPBACK):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.socks: set[socket.socket] = set()
        self.refused = 0  # connections turned away while cut
        self.thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.down.is_set():
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.socks.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                for s in (src, dst):
                    if s in self.socks:
                        self.socks.discard(s)
                        s.close()

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            socks, self.socks = list(self.socks), set()
        for s in socks:
            _reset(s)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.closed.set()
        self.cut()
        self.listener.close()
        self.thread.join(timeout=2)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), like a dead peer, not a polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# ------------------------------------------------------------------ PostgreSQL


def pg_url(name: str, port: int = 5432) -> str:
    return f"postgres://postgres@{LOOPBACK}:{port}/{name}"


class PgDatabase:
    """A fresh PostgreSQL database for one run (``jr_scale_<random>``), dropped by ``drop()``."""

    def __init__(self, prefix: str = "jr_scale", template: str | None = None):
        import psycopg

        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        # a migrated template makes a fresh database a file copy (~0.2 s) instead of a migrate
        tpl = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"{tpl}')

    @classmethod
    def migrated_template(cls) -> "PgDatabase":
        """A database with every migration applied, to clone per test (drop it at the end)."""
        db = cls(prefix="jr_scale_tpl")
        env = {**os.environ, "DATABASE_URL": db.url(), "DJANGO_SETTINGS_MODULE": "jewelreview.settings",
               "PYTHONPATH": str(REPO)}
        for k in ("REDIS_URL", "CELERY_BROKER_URL"):
            env.pop(k, None)
        res = subprocess.run([PY, "manage.py", "migrate", "--noinput"], env=env, cwd=REPO, capture_output=True,
                             text=True, timeout=300)
        if res.returncode != 0:
            db.drop()
            raise HarnessError(f"migrate failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
        return db

    def url(self, port: int = 5432) -> str:
        return pg_url(self.name, port)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# ------------------------------------------------------------------ the stack


class Stack:
    """PostgreSQL + a private Redis + any number of daphne / Celery worker processes sharing
    them, with one media folder. ``close()`` stops everything it started and drops the database."""

    def __init__(self, workdir: Path | None = None, redis: bool = True, db: bool = True, log_level="WARNING",
                 template: str | None = None):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="jr-stack-"))
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.media = self.dir / "media"
        self.media.mkdir(exist_ok=True)
        self.log_level = log_level
        self.procs: list[Proc] = []
        self.proxies: list[TcpProxy] = []
        self.redis = RedisServer(self.dir / "logs") if redis else None
        self.db = None
        try:
            self.db = PgDatabase(template=template) if db else None
            self.secret = secrets.token_urlsafe(40)
            if self.db and not template:
                self.manage("migrate", "--noinput", timeout=180)
        except BaseException:
            self.close()
            raise

    # environment of every Django process of this stack
    def env(self, db_port: int = 5432, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "jewelreview.settings",
            "DEBUG": "0",
            "SECRET_KEY": self.secret,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MEDIA_ROOT": str(self.media),
            "JEWELREVIEW_VAR": str(self.dir / "var"),
            "LOG_LEVEL": self.log_level,
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        })
        if self.db:
            env["DATABASE_URL"] = self.db.url(db_port)
        if self.redis:
            env["REDIS_URL"] = f"{self.redis.url}/0"
            env["CELERY_BROKER_URL"] = f"{self.redis.url}/1"
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def manage(self, *args, timeout: float = 120, env: dict | None = None) -> str:
        return self.python("manage.py", *args, timeout=timeout, env=env)

    def python(self, *args, timeout: float = 120, env: dict | None = None, stdin: str | None = None) -> str:
        """Run ``python args…`` in the stack's environment; stdout on success."""
        res = subprocess.run([PY, *args], env=env or self.env(), cwd=REPO, capture_output=True, text=True,
                             timeout=timeout, input=stdin)
        if res.returncode != 0:
            raise HarnessError(f"python {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
        return res.stdout

    def seed(self, **options) -> dict:
        """Users, sessions and images for a run (benchmarks.seed); returns its JSON."""
        argv = ["-m", "benchmarks.seed"]
        for k, v in options.items():
            flag = f"--{k.replace('_', '-')}"
            if v is True:
                argv.append(flag)
            elif v is not False:
                argv += [flag, str(v)]
        out = self.python(*argv, timeout=300)
        return json.loads(out.strip().splitlines()[-1])

    def proxy(self, target_port: int = 5432) -> TcpProxy:
        p = TcpProxy(target_port)
        self.proxies.append(p)
        return p

    def daphne(self, name: str | None = None, db_port: int = 5432, port: int | None = None, wait: bool = True,
               **extra) -> "Server":
        port = port or free_port()
        name = name or f"daphne-{port}"
        argv = [str(BIN / "daphne"), "-b", LOOPBACK, "-p", str(port), "--proxy-headers",
                "jewelreview.asgi:application"]
        proc = Proc(name, argv, self.env(db_port, **extra), self.dir / "logs")
        self.procs.append(proc)
        if wait:
            proc.wait_port(port, 90)
        return Server(proc, port)

    def daphnes(self, n: int, db_port: int = 5432, **extra) -> list["Server"]:
        """``n`` daphne processes started at once (Django's import is the slow part)."""
        servers = [self.daphne(f"daphne-{i + 1}", db_port, wait=False, **extra) for i in range(n)]
        for s in servers:
            s.proc.wait_port(s.port, 90)
        return servers

    def worker(self, name: str, concurrency: int = 1, db_port: int = 5432, queues: str = "celery", **extra) -> Proc:
        """A Celery worker (prefork pool, late acks) through benchmarks.worker; waits until ready."""
        argv = [PY, "-m", "benchmarks.worker", "worker", "-n", f"{name}@%h", "-c", str(concurrency),
                "--pool", "prefork", "-l", "INFO", "-Q", queues, "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--prefetch-multiplier", "1"]
        proc = Proc(name, argv, self.env(db_port, **extra), self.dir / "logs")
        self.procs.append(proc)
        proc.wait_log("ready.", 60)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=1)  # nothing of a test run needs a graceful shutdown
        self.procs.clear()
        for p in self.proxies:
            p.close()
        self.proxies.clear()
        if self.redis:
            self.redis.stop()
        if self.db:
            try:
                self.db.drop()
            except Exception:  # noqa: BLE001 - best effort; a leftover test database is harmless
                pass
        if self._own_dir:
            import shutil

            shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """A running daphne: its process and where it listens."""

    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port

    @property
    def http(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"


# ------------------------------------------------------------------ HTTP on loopback


def http(method: str, url: str, session: str | None = None, data: bytes | None = None,
         headers: dict | None = None, timeout: float = 15.0) -> tuple[int, dict, bytes]:
    """One request; (status, headers, body) — 4xx/5xx are returned, not raised."""
    import urllib.error
    import urllib.request

    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError("loopback only")
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if session:
        req.add_header("Cookie", f"sessionid={session}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read() if exc.fp else b""
