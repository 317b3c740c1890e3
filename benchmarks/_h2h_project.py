"""The dbt project of the head-to-head benchmark, and the time each of its models spends in the warehouse.

``generate_project`` writes ``models`` models in ``log2(models)`` layers of varying width, the widest near the
sources (each model refs one to three models of the layer before it, sometimes one more from further up),
materialized as tables, views and incrementals, with ``not_null`` and ``unique`` tests on every third model.
``warehouse_seconds`` draws each model's job time from a seeded log-normal distribution (median ``median_s``),
clipped to ``tail_s``: a few models take two minutes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Final

__all__ = ["generate_project", "warehouse_seconds"]

_MATERIALIZED: Final = (("table", 0.45), ("view", 0.35), ("incremental", 0.20))
_SIGMA: Final = 0.75


def _layers(models: int, rng: random.Random) -> list[list[str]]:
    """Model names in ``log2(models)`` layers, as dbt projects grow: a wide staging layer near the sources, each
    layer after it narrower by a random factor around 0.8."""
    depth = max(3, round(math.log2(models)))
    weights = [rng.uniform(0.6, 1.4) * 0.8**level for level in range(depth)]
    widths = [max(1, round(models * weight / sum(weights))) for weight in weights]
    widths[0] += models - sum(widths)
    layers, index = [], 0
    for width in widths:
        layers.append([f"m_{i:03d}" for i in range(index, index + width)])
        index += width
    return layers


def _materialization(rng: random.Random) -> str:
    pick, total = rng.random(), 0.0
    for name, share in _MATERIALIZED:
        total += share
        if pick < total:
            return name
    return "table"


def _sql(number: int, name: str, parents: list[str], materialized: str) -> str:
    config = f"{{{{ config(materialized='{materialized}') }}}}\n"
    if materialized == "incremental":
        config = "{{ config(materialized='incremental', unique_key='id') }}\n"
    if not parents:
        return f"{config}select {number} as id, '{name}' as name, {number * 10} as amount\n"
    union = "\n    union all\n".join(f"    select amount from {{{{ ref('{parent}') }}}}" for parent in parents)
    incremental = "{% if is_incremental() %}\nwhere amount >= 0\n{% endif %}\n" if materialized == "incremental" else ""
    return (
        f"{config}select {number} as id, '{name}' as name, sum(amount) + {number} as amount\n"
        f"from (\n{union}\n) as parents\n{incremental}"
    )


def generate_project(root: Path, *, models: int, seed: int) -> Path:
    """Write the project under ``root / "h2h"`` (returned): profile ``h2h``, models ``m_000``..."""
    rng = random.Random(seed)
    project = root / "h2h"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: h2h\nversion: '1.0'\nconfig-version: 2\nprofile: h2h\nmodels:\n  h2h:\n    +materialized: table\n"
    )
    layers = _layers(models, rng)
    tested: list[str] = []
    number = 0
    for depth, layer in enumerate(layers):
        for name in layer:
            parents: list[str] = []
            if depth:
                parents = rng.sample(layers[depth - 1], k=min(len(layers[depth - 1]), rng.randint(1, 3)))
                if depth > 1 and rng.random() < 0.3:
                    parents.append(rng.choice([m for layer in layers[: depth - 1] for m in layer]))
            materialized = _materialization(rng)
            (project / "models" / f"{name}.sql").write_text(_sql(number, name, parents, materialized))
            if number % 3 == 0:
                tested.append(name)
            number += 1
    schema = ["version: 2", "models:"]
    for name in tested:
        schema += [f"  - name: {name}", "    columns:", "      - name: id", "        data_tests: [not_null, unique]"]
    (project / "models" / "schema.yml").write_text("\n".join(schema) + "\n")
    return project


def warehouse_seconds(names: list[str], *, seed: int, median_s: float, tail_s: float) -> dict[str, float]:
    """``{model: seconds its job stays RUNNING}``: log-normal around ``median_s``, at most ``tail_s``, at least 1."""
    rng = random.Random(seed)
    return {name: round(min(tail_s, max(1.0, rng.lognormvariate(math.log(median_s), _SIGMA))), 1) for name in names}
