"""Tables on the terminal, JSON under bench/results/, and the generated blocks of docs/performance.md."""

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.core import Result
from bench.env import RESULTS_DIR, ROOT

DOC = ROOT / "docs" / "performance.md"


def fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: ""}[met]


def _rows(result: Result) -> list[list[str]]:
    rows = []
    for m in result.metrics:
        s = m.summary()
        rows.append(
            [m.name, m.unit, fmt(s["median"]), fmt(s["min"]), fmt(s["max"]), str(s["n"]), m.target, _verdict(s["met"])]
        )
    return rows


HEADER = ["metric", "unit", "median", "min", "max", "n", "target", ""]


def print_result(result: Result) -> None:
    rows = [HEADER, *_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    print(f"\n{result.scenario}: {result.title}  ({result.seconds:.0f} s)")
    for i, row in enumerate(rows):
        cells = [cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))]
        print("  " + "  ".join(cells))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    for note in result.notes:
        print(f"  note: {note}")


def write_json(run: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = run["started_at"].replace(":", "").replace("-", "")[:15]
    path = RESULTS_DIR / f"{stamp}-{'-'.join(r['scenario'] for r in run['results']) or 'none'}.json"
    text = json.dumps(run, indent=2, default=str)
    path.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    return path


def _block(result: Result, run: dict[str, Any]) -> str:
    m = run["machine"]
    when = datetime.fromisoformat(run["started_at"]).strftime("%Y-%m-%d %H:%M UTC")
    params = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in result.params.items())
    lines = [
        f"**{result.scenario}: {result.title}**",
        "",
        f"Measured {when} by `python -m bench {result.scenario.lower()}`{' --quick' if run['quick'] else ''} "
        f"on {m['cores']} cores, {m['memory_mib']:,} MiB, load average {m['loadavg_at_start'][0]} at start; "
        f"{params}. Median, min and max over the repetitions.",
        "",
        "| " + " | ".join(HEADER[:-1]) + " | |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _rows(result)]
    if result.notes:
        lines.append("")
        lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines)


def _machine_block(run: dict[str, Any]) -> str:
    m = run["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return "\n".join(
        [
            f"Last run: {run['started_at'][:16]} UTC, {m['cores']} cores ({m['cpu']}), {m['memory_mib']:,} MiB, "
            f"{m['platform']}.",
            "",
            f"Versions and server settings: {versions}.",
        ]
    )


def docs_update(run: dict[str, Any], results: list[Result], path: Path = DOC) -> None:
    """Replace the marked block of each scenario that ran; everything else in the file stays as it is."""
    text = path.read_text() if path.exists() else "# Performance\n"
    blocks = {"machine": _machine_block(run)}
    blocks.update({r.scenario: _block(r, run) for r in results})
    for key, body in blocks.items():
        start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
        new = f"{start}\n{body}\n{end}"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: new, text, count=1)
        else:
            text = text.rstrip("\n") + f"\n\n{new}\n"
    path.write_text(text)
