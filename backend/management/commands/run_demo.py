"""Serve the demo: the WeChat sandbox and the Django server together (``make run``).

``python manage.py run_demo --port 8000 --sandbox-port 8765`` starts the sandbox
(``python -m backend.wechat_sandbox``), waits until it answers, then starts Django's
development server (no autoreload) pointed at it, prints the URLs and the demo accounts, and
stops both on Ctrl-C or SIGTERM. Each child also dies with this process (Linux), so none is
left behind even if this one is killed. It neither migrates nor seeds: ``make run`` does both
first.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The sandbox listens on loopback only: it stands in for WeChat, nobody else should reach it.
SANDBOX_HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30
SHUTDOWN_TIMEOUT_SECONDS = 10


class _Stop(Exception):
    """A signal asked us to stop."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Lets a port in TIME_WAIT count as free, as the servers themselves will reuse it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent():
    """In the child: ask Linux to SIGTERM us when the parent exits, however it exits."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (a local URL)
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


class Command(BaseCommand):
    help = "Run the WeChat sandbox and the Django server together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument(
            "--sandbox-port", type=int, default=settings.WECHAT_SANDBOX_PORT, dest="sandbox_port"
        )

    def handle(self, *args, host, port, sandbox_port, **options):
        for name, bind_host, number in (
            ("server", host, port),
            ("WeChat sandbox", SANDBOX_HOST, sandbox_port),
        ):
            if not port_is_free(bind_host, number):
                raise CommandError(
                    f"Port {number} ({name}) is busy on {bind_host}: stop what uses it or pick "
                    f"another (--port / --sandbox-port, or PORT / WECHAT_SANDBOX_PORT for make)."
                )
        if port == sandbox_port:
            raise CommandError("The server and the sandbox need two different ports.")

        sandbox_root = f"http://{SANDBOX_HOST}:{sandbox_port}/"
        server_root = f"http://{host}:{port}/"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "WECHAT_SANDBOX_PORT": str(sandbox_port),
            "WECHAT_API_ROOT": sandbox_root,
            "WECHAT_PAY_NOTIFY_URL": f"{server_root}api/payments/wechat/notify",
        }
        children: list[tuple[str, subprocess.Popen]] = []

        def stop(signum, frame):
            raise _Stop()

        previous_handlers = {
            signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            children.append(
                (
                    "WeChat sandbox",
                    self._spawn(
                        [
                            sys.executable,
                            "-m",
                            "backend.wechat_sandbox",
                            "--port",
                            str(sandbox_port),
                        ],
                        env,
                    ),
                )
            )
            self._wait_until_up(children[-1], f"{sandbox_root}sandbox/health")

            manage_py = str(settings.BASE_DIR / "manage.py")
            children.append(
                (
                    "Django server",
                    self._spawn(
                        [sys.executable, manage_py, "runserver", "--noreload", f"{host}:{port}"],
                        env,
                    ),
                )
            )
            self._wait_until_up(children[-1], f"{server_root}api/health")

            self._print_banner(server_root, sandbox_root)
            while True:
                for name, process in children:
                    if process.poll() is not None:
                        raise CommandError(f"The {name} exited (code {process.returncode}).")
                time.sleep(0.5)
        except _Stop:
            self.stdout.write("\nStopping…")
        finally:
            # A second Ctrl-C must not cut the shutdown short and leave a child behind.
            for signum in previous_handlers:
                signal.signal(signum, signal.SIG_IGN)
            self._stop_all(children)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        self.stdout.write("Stopped.")

    def _spawn(self, command, env):
        return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command,
            env=env,
            cwd=settings.BASE_DIR,
            # Its own session: a Ctrl-C reaches only this process, which stops the children
            # in order and waits for them.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _wait_until_up(self, child, url):
        name, process = child
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"The {name} exited at start (code {process.returncode}).")
            if _answers(url):
                return
            time.sleep(0.2)
        raise CommandError(f"The {name} did not answer {url} within {STARTUP_TIMEOUT_SECONDS} s.")

    def _stop_all(self, children):
        for _, process in reversed(children):
            if process.poll() is None:
                process.terminate()
        for name, process in reversed(children):
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} did not stop; killing it.")
                process.kill()
                process.wait()

    def _print_banner(self, server_root, sandbox_root):
        from stores.demo import DEMO_ACCOUNTS

        lines = [
            "",
            "The demo is running:",
            f"  API              {server_root}api/",
            f"  API docs         {server_root}api/docs/",
            f"  Admin            {server_root}admin/",
            f"  Cashier page     {server_root}pos/",
            f"  WeChat sandbox   {sandbox_root}",
            "",
            "Demo accounts (username / password):",
            *(f"  {user:<10} / {password:<10} {what}" for user, password, what in DEMO_ACCOUNTS),
            "",
            "Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))
