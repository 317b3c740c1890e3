"""What the head-to-head benchmark compares: warehouse contents, held jobs at once, API requests, the targets."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["dataset_rows", "peak_concurrent", "print_table", "request_delta", "targets"]

#: Cosmos modes every row is compared with, and the targets on them.
BASELINES: Final = ("cosmos_local", "cosmos_watcher_8", "cosmos_watcher_16")
WALL_TARGETS: Final = {"cosmos_local": 0.5, "cosmos_watcher_8": 0.8, "cosmos_watcher_16": 0.8}
SLOT_TARGET: Final = 0.05


def dataset_rows(gcp: Any, dataset: str) -> dict[str, list[tuple[str, ...]]]:
    """``{table or view: its rows, as sorted tuples of strings}`` of one dataset on the emulator."""
    client = gcp.bigquery_client()
    result: dict[str, list[tuple[str, ...]]] = {}
    for table in client.list_tables(f"{gcp.project}.{dataset}"):
        columns = ", ".join(field.name for field in client.get_table(table).schema)
        rows = client.query(f"select {columns} from `{gcp.project}.{dataset}.{table.table_id}`").result()
        result[table.table_id] = sorted(tuple(str(value) for value in row.values()) for row in rows)
    return result


def peak_concurrent(held: list[dict[str, Any]], *, since: float) -> int:
    """The most held jobs RUNNING at once among those started at or after ``since`` (epoch seconds)."""
    events = sorted(
        (moment, step)
        for entry in held
        if entry["start"] >= since
        for moment, step in ((entry["start"], 1), (entry["start"] + entry["seconds"], -1))
    )
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def request_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests per API method between two counts of the proxy, with their ``total``."""
    delta = {method: count - before.get(method, 0) for method, count in sorted(after.items())}
    delta = {method: count for method, count in delta.items() if count}
    return delta | {"total": sum(delta.values())}


def _ratios(row: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> dict[str, float]:
    ratios = {}
    for baseline in BASELINES:
        other = by_name.get(baseline)
        if other and other.get("runs") and row.get("runs"):
            ratios[f"wall_vs_{baseline}"] = round(row["wall_s"] / other["wall_s"], 3)
            ratios[f"slot_s_vs_{baseline}"] = round(row["slot_s"] / other["slot_s"], 4)
    return ratios


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for cosmos_remote, each with its figure and ``met``; the ratios go into every row."""
    by_name = {row["contender"]: row for row in rows}
    for row in rows:
        row["ratios"] = _ratios(row, by_name)
    ours = by_name.get("cosmos_remote", {}).get("ratios", {})
    found: list[dict[str, Any]] = []
    for baseline, limit in WALL_TARGETS.items():
        if (value := ours.get(f"wall_vs_{baseline}")) is not None:
            figure = {"figure": f"wall_vs_{baseline}", "value": value, "target": f"<= {limit}", "met": value <= limit}
            found.append(figure)
    if (value := ours.get("slot_s_vs_cosmos_local")) is not None:
        found.append({"figure": "slot_s_vs_cosmos_local", "value": value, "target": f"<= {SLOT_TARGET}",
                      "met": value <= SLOT_TARGET})  # fmt: skip
    running = [row for row in rows if row.get("runs")]
    equal = all(row.get("tables_equal") for row in running)
    found.append({"figure": "tables_equal", "value": sorted(r["contender"] for r in running if r.get("tables_equal")),
                  "target": "every contender that runs", "met": bool(running) and equal})  # fmt: skip
    return found


def print_table(rows: list[dict[str, Any]]) -> None:
    """The table, with each row's wall and slot-second ratios to the Cosmos modes."""
    print("\n| contender | runs | wall s | slot-s | peak jobs | API requests | tables equal | failed tries | "
          "wall / LOCAL | wall / WATCHER 8 | wall / WATCHER 16 | slot-s / LOCAL |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if not row.get("runs"):
            print(f"| {row['contender']} | no: {str(row.get('error'))[:120]} |" + " |" * 10)
            continue
        ratios = row.get("ratios", {})

        def cell(key: str, ratios: dict[str, float] = ratios) -> str:
            return f"{ratios[key]:.3g}x" if key in ratios else "n/a"

        print(
            f"| {row['contender']} | yes | {row['wall_s']:.0f} | {row['slot_s']:.0f} | {row['peak_jobs']} | "
            f"{row['api_requests']['total']:,} | {'yes' if row.get('tables_equal') else 'no'} | "
            f"{row['failed_tries']} | {cell('wall_vs_cosmos_local')} | {cell('wall_vs_cosmos_watcher_8')} | "
            f"{cell('wall_vs_cosmos_watcher_16')} | {cell('slot_s_vs_cosmos_local')} |"
        )
