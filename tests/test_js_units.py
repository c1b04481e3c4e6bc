"""The browser modules' pure logic (cursor, dedupe, backoff, filters), run by Node's built-in test runner.

Part of `make test` so CI runs it beside the Playwright suite. Without Node it skips locally and fails under
REQUIRE_SERVICES=1 (CI installs Node).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_javascript_unit_tests_pass():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("Node is required for the JavaScript unit tests (tests/js)")
        pytest.skip("Node is not installed")
    files = sorted(str(p) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files, "no JavaScript tests found"
    result = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
