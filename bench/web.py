"""Web processes exactly as the Procfile's `web` line starts them (production settings from the environment), each
on a free loopback port: what a user deploys, not a tuned command line of the bench's own."""

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.env import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_web(port: int) -> list[str]:
    """The Procfile's web command, bound to loopback on `port`."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            command = line.removeprefix("web:").replace("${PORT:-8000}", str(port)).replace("0.0.0.0", "127.0.0.1")
            return shlex.split(command)
    raise RuntimeError("Procfile has no web line")


class Web:
    def __init__(self, env: dict[str, str], venv_bin: Path) -> None:
        self.port = _free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-web-", suffix=".log")
        command = procfile_web(self.port)
        command[0] = str(venv_bin / command[0])  # our venv's python
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web process exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("web process did not listen")
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def webs_start(count: int, env: dict[str, str], venv_bin: Path) -> list[Web]:
    return [Web(env, venv_bin) for _ in range(count)]


def webs_stop(webs: list[Web]) -> None:
    for web in webs:
        web.stop()
