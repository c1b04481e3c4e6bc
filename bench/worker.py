"""A measuring process driven over stdin/stdout with one JSON object per line.

The harness keeps ours and the peer in separate long-lived processes (separate interpreters, venvs and databases)
and alternates calls between them, so both see the same machine noise. Stdlib only: it also runs in the peer's venv.
"""

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class WorkerError(RuntimeError):
    pass


class Worker:
    def __init__(self, python: str | Path, *args: str, env: dict[str, str], cwd: Path) -> None:
        """Runs `python *args` (e.g. "-m", "bench.ours")."""
        self.proc = subprocess.Popen(
            [str(python), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
            bufsize=1,
        )

    def call(self, op: str, **kwargs: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"worker exited (code {self.proc.wait()}) during {op!r}")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(handlers: dict[str, Callable[..., Any]]) -> None:
    """The worker side: stdout carries replies only, so anything else printed goes to stderr."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = {"result": handlers[op](**request)}
        except Exception:
            reply = {"error": f"{op}: {traceback.format_exc()}"}
        out.write(json.dumps(reply) + "\n")
