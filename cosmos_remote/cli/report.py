"""``report`` (what each node of a DAG run cost, from its ``run_results.json``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any, Final

from cosmos_remote.artifacts import RUN_RESULTS_FILE
from cosmos_remote.cli._base import CliError, Column, ExitCode, Output, add_common_arguments, human_bytes, open_run

__all__ = ["node_costs", "register"]

#: BigQuery's on-demand list price per TiB billed (US and EU multi-regions), in USD.
ON_DEMAND_USD_PER_TIB: Final = 6.25
_TIB: Final = 2**40


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the command parser."""
    report = commands.add_parser(
        "report",
        help="what each node of a run took and cost",
        description="Read the run_results.json of the run at RUN_URI (written by the DAG run's dbt_run_results "
        "task) and print, per node, its status, wall time, bytes processed and billed, slot milliseconds, whether "
        "the query cache answered, and an on-demand cost estimate (bytes billed x --price-per-tib), most expensive "
        "first, with the total. Capacity (slot) pricing and the monthly free tier are not taken into account. "
        "Exit codes: 0, 2, 3, 4.",
    )
    report.add_argument("run", metavar="RUN_URI", help="the run prefix, e.g. gs://bucket/cosmos/my_dag/manual__...")
    report.add_argument(
        "--price-per-tib",
        metavar="USD",
        type=float,
        default=ON_DEMAND_USD_PER_TIB,
        help=f"on-demand price per TiB billed (default: BigQuery's list price, {ON_DEMAND_USD_PER_TIB} USD)",
    )
    add_common_arguments(report)
    report.set_defaults(handler=run_report)


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def node_costs(results: Mapping[str, Any], *, price_per_tib: float) -> list[dict[str, Any]]:
    """One row per result of a ``run_results.json`` document, most expensive first (then the slowest)."""
    rows = []
    for result in results.get("results") or ():
        response = result.get("adapter_response") or {}
        billed = _number(response.get("bytes_billed"))
        rows.append(
            {
                "unique_id": result.get("unique_id"),
                "status": result.get("status"),
                "seconds": float(result.get("execution_time") or 0.0),
                "bytes_processed": _number(response.get("bytes_processed")),
                "bytes_billed": billed,
                "slot_ms": _number(response.get("slot_ms")),
                "cache_hit": response.get("cache_hit"),
                "job_id": response.get("job_id"),
                "cost_usd": None if billed is None else billed / _TIB * price_per_tib,
            }
        )
    rows.sort(key=lambda row: (-(row["cost_usd"] or 0.0), -row["seconds"], str(row["unique_id"])))
    return rows


def _total(rows: list[dict[str, Any]], key: str) -> int | float:
    return sum(row[key] or 0 for row in rows)


def run_report(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote report RUN_URI [--price-per-tib USD]``."""
    if not args.price_per_tib >= 0:
        raise CliError(ExitCode.USAGE, f"--price-per-tib must be a price >= 0, got {args.price_per_tib}")
    store, ref = open_run(args.run, args)
    document = json.loads(store.read_dbt_artifact(uri=ref.uri, name=RUN_RESULTS_FILE))
    rows = node_costs(document, price_per_tib=args.price_per_tib)
    totals = {key: _total(rows, key) for key in ("seconds", "bytes_processed", "bytes_billed", "slot_ms", "cost_usd")}
    if out.json_mode:
        out.emit_json({"run": ref.uri, "price_per_tib_usd": args.price_per_tib, "nodes": rows, "total": totals})
        return ExitCode.OK
    columns = (
        Column("NODE", fold=True),
        Column("STATUS"),
        Column("WALL S", justify="right"),
        Column("PROCESSED", justify="right"),
        Column("BILLED", justify="right"),
        Column("SLOT MS", justify="right"),
        Column("CACHE"),
        Column("COST USD", justify="right"),
    )

    def cells(row: Mapping[str, Any], name: str, status: str, cache: str) -> list[str]:
        cost = row["cost_usd"]
        return [
            name,
            status,
            f"{row['seconds']:.1f}",
            human_bytes(row["bytes_processed"]),
            human_bytes(row["bytes_billed"]),
            "-" if row["slot_ms"] is None else f"{row['slot_ms']:,}",
            cache,
            "-" if cost is None else f"{cost:.4f}",
        ]

    table = [
        cells(row, str(row["unique_id"]), str(row["status"]), {True: "hit", False: "miss"}.get(row["cache_hit"], "-"))
        for row in rows
    ]
    table.append(cells({**totals}, f"TOTAL ({len(rows)} nodes)", "", ""))
    out.table(columns, table, title=f"{ref.uri} at {args.price_per_tib} USD per TiB billed")
    return ExitCode.OK
