"""What every scenario returns and what the harness gives it."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.env import Config


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a reported p99 is a latency some request really had."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Metric:
    """One measured quantity, one value per repetition. `goal` = (op, bound) is judged on the median."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    target: str = ""
    goal: tuple[str, float] | None = None

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def met(self) -> bool | None:
        if self.goal is None or not self.values:
            return None
        op, bound = self.goal
        return self.median <= bound if op == "<=" else self.median >= bound

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            median=self.median,
            min=min(self.values) if self.values else math.nan,
            max=max(self.values) if self.values else math.nan,
            n=len(self.values),
            met=self.met,
        )
        return data


@dataclass
class Result:
    scenario: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def metric(self, name: str, unit: str, *, target: str = "", goal: tuple[str, float] | None = None) -> Metric:
        m = Metric(name=name, unit=unit, target=target, goal=goal)
        self.metrics.append(m)
        return m

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "params": self.params,
            "seconds": round(self.seconds, 1),
            "metrics": [m.summary() for m in self.metrics],
            "notes": self.notes,
            "details": self.details,
        }


@dataclass
class Context:
    config: Config
    quick: bool
    reps: int
    options: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        print(f"  .. {message}", flush=True)
