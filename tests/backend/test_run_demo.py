"""``manage.py run_demo`` starts the sandbox and the server, and Ctrl-C stops both."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from backend.management.commands.run_demo import port_is_free

ROOT = Path(__file__).resolve().parents[2]

requires_sandbox = pytest.mark.skipif(
    importlib.util.find_spec("backend.wechat_sandbox") is None,
    reason="the WeChat sandbox module (backend.wechat_sandbox) is not in this checkout",
)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _run_demo(tmp_path, port, sandbox_port):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    return subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "manage.py",
            "run_demo",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@requires_sandbox
def test_run_demo_serves_and_stops_everything_on_ctrl_c(tmp_path):
    port, sandbox_port = _free_port(), _free_port()
    process = _run_demo(tmp_path, port, sandbox_port)
    lines = []
    ready = threading.Event()

    def read_output():
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert ready.wait(timeout=90), "".join(lines)
        assert _answers(f"http://127.0.0.1:{port}/api/health")
        assert _answers(f"http://127.0.0.1:{sandbox_port}/sandbox/health")

        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    output = "".join(lines)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/api/docs/" in output
    assert "cashier1" in output
    assert port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", sandbox_port)


def test_run_demo_refuses_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        process = _run_demo(tmp_path, port, _free_port())
        output, _ = process.communicate(timeout=60)

    assert process.returncode != 0
    assert f"Port {port} (server) is busy" in output
