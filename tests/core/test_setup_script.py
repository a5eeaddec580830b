"""scripts/setup.sh says what it does; --cpu says whether PyTorch's CPU index is reachable and
falls back to the default build when it is not (checked with --dry-run: nothing is installed)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "python").is_file() or os.name != "posix",
    reason="needs the project's .venv and bash")


def _setup(*args: str, index: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SPAM_TORCH_CPU_INDEX=index)
    return subprocess.run(["bash", str(SETUP), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _torch_kind() -> str:
    code = ("import importlib.metadata as m; "
            "req = m.requires('torch') or []; "
            "print('cuda' if any(r.lower().startswith('nvidia') for r in req) else 'cpu')")
    return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code],
                          capture_output=True, text=True, check=True).stdout.strip()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]      # closed again when the test connects


class _Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path.rstrip("/") == "/cpu/torch" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def cpu_index():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cpu"
    server.shutdown()
    server.server_close()


def test_help_and_bad_option():
    proc = _setup("--help", index="http://127.0.0.1:9/")
    assert proc.returncode == 0 and "--cpu" in proc.stdout and "--dry-run" in proc.stdout
    proc = _setup("--gpu", index="http://127.0.0.1:9/")
    assert proc.returncode == 2 and "unknown option --gpu" in proc.stderr


def test_cpu_index_unreachable_is_said_and_the_default_build_kept():
    index = f"http://127.0.0.1:{_closed_port()}/cpu"
    proc = _setup("--cpu", "--dry-run", index=index)
    assert proc.returncode == 0, proc.stderr
    if _torch_kind() == "cpu":       # nothing to decide: a CPU build is there
        assert "CPU build" in proc.stdout or "nothing to install" in proc.stdout
        return
    assert f"PyTorch's CPU index {index} is NOT reachable from here (" in proc.stdout
    assert "keeping the installed default build" in proc.stdout
    assert "dry run: nothing installed" in proc.stdout


def test_cpu_index_reachable_says_what_it_installs(cpu_index):
    if _torch_kind() == "cpu":
        pytest.skip("a CPU build of torch is installed: --cpu has nothing to install")
    proc = _setup("--cpu", "--dry-run", index=cpu_index)
    assert proc.returncode == 0, proc.stderr
    assert "NOT reachable" not in proc.stdout
    assert f"+cpu from {cpu_index} (CPU only: about 190 MB" in proc.stdout
