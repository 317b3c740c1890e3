"""The parse benchmark's targets at 5,000 models: construction, the dag-processor, and cost per task as it grows."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["print_scale_targets", "scale_targets"]

LARGE: Final = 5_000
REFERENCE: Final = 1_000


def _row(rows: list[dict[str, Any]], models: int) -> dict[str, Any]:
    return next((row for row in rows if row["models"] == models), {})


def _target(
    name: str, metric: str, value: float | None, *, at_most: float | None = None, at_least: float | None = None
) -> dict[str, Any]:
    if value is None:
        met = False
    elif at_most is not None:
        met = value <= at_most
    else:
        met = at_least is not None and value >= at_least
    bound = f"<= {at_most}" if at_most is not None else f">= {at_least}"
    return {"name": name, "metric": metric, "target": bound, "value": value, "met": met}


def scale_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with its value and ``met``; a figure that could not be measured misses its target."""
    large, reference = _row(rows, LARGE), _row(rows, REFERENCE)
    remote = large.get("cosmos_remote", {})
    per_task, per_task_reference = (
        remote.get("warm_cpu_ms_per_task"),
        reference.get("cosmos_remote", {}).get("warm_cpu_ms_per_task"),
    )
    growth = per_task / per_task_reference if per_task and per_task_reference else None
    return [
        _target(
            "warm_construction_5000",
            f"cosmos_remote.warm_median_s at {LARGE:,} models (seconds)",
            remote.get("warm_median_s"),
            at_most=4.0,
        ),
        _target(
            "warm_construction_vs_cosmos_5000",
            f"Cosmos warm_median_s / cosmos_remote warm_median_s at {LARGE:,} models",
            large.get("ratio_warm"),
            at_least=3.0,
        ),
        _target(
            "dagprocessor_5000",
            f"cosmos_remote.dagprocessor_median_s at {LARGE:,} models (seconds)",
            remote.get("dagprocessor_median_s"),
            at_most=8.0,
        ),
        _target(
            "dagprocessor_vs_cosmos_5000",
            f"Cosmos dagprocessor_median_s / cosmos_remote dagprocessor_median_s at {LARGE:,} models",
            large.get("ratio_dagprocessor"),
            at_least=2.0,
        ),
        _target(
            "cpu_per_task_growth",
            f"cosmos_remote warm CPU ms per task at {LARGE:,} / at {REFERENCE:,} models",
            round(growth, 3) if growth is not None else None,
            at_most=1.3,
        ),
    ]


def print_scale_targets(targets: list[dict[str, Any]]) -> None:
    for target in targets:
        value = "-" if target["value"] is None else f"{target['value']:.3g}"
        print(f"  {target['name']}: {value} (target {target['target']}): {'met' if target['met'] else 'MISSED'}")
