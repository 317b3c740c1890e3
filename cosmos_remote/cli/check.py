"""``verify`` (re-hash a run against its index) and ``diff`` (what changed between two runs)."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from cosmos_remote.artifacts import (
    PRIMARY_FILE,
    ArtifactRef,
    ChecksumMismatchError,
    FsspecArtifactStore,
    NodeEntry,
    VerifyProblem,
)
from cosmos_remote.cli._base import CliError, Column, ExitCode, Output, add_common_arguments, open_run

__all__ = ["NodeChange", "compare_nodes", "register"]

_FETCH_THREADS: Final = 16
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify`` and ``diff`` to the command parser."""
    verify = commands.add_parser(
        "verify",
        help="re-hash every file of a run against its index",
        description="Read every file the run's index lists and compare its sha256; report missing files, changed "
        "files and files the index does not know. Exit codes: 0 (all files match), 1 (problems found), 2, 3, 4.",
    )
    verify.add_argument("run", metavar="RUN_URI", help="the run prefix")
    verify.add_argument(
        "--index-sha256",
        metavar="SHA256",
        help="also check index.json itself against this digest (the index_sha256 the setup task returned in XCom)",
    )
    add_common_arguments(verify)
    verify.set_defaults(handler=run_verify)

    diff = commands.add_parser(
        "diff",
        help="compare the SQL of two runs",
        description="List the nodes added in RUN_B, removed from RUN_A, or whose file differs, with a unified diff "
        "of each change. Scripts with hooks that embed dbt's invocation_id differ in every run; compare --compiled "
        "to see changes of the models' logic only. Exit codes: 0 (identical), 1 (differences), 2, 3, 4.",
    )
    diff.add_argument("run_a", metavar="RUN_A", help="the older run prefix")
    diff.add_argument("run_b", metavar="RUN_B", help="the newer run prefix")
    which = diff.add_mutually_exclusive_group()
    which.add_argument("--compiled", action="store_true", help="compare the compiled SELECTs instead of the scripts")
    which.add_argument("--file", metavar="NAME", help="compare this file of each node (script, compiled, csv, query)")
    diff.add_argument("--name-only", action="store_true", help="list the changed nodes without the diffs")
    add_common_arguments(diff)
    diff.set_defaults(handler=run_diff)


def _problem_json(problem: VerifyProblem) -> dict[str, Any]:
    return {"kind": problem.kind, "path": problem.path, "unique_id": problem.unique_id, "detail": problem.detail}


def run_verify(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote verify RUN_URI [--index-sha256 SHA256]``."""
    expected = args.index_sha256.strip().lower() if args.index_sha256 else None
    if expected is not None and not _SHA256.fullmatch(expected):
        raise CliError(
            ExitCode.USAGE, f"--index-sha256 {args.index_sha256!r} is not 64 hex digits; pass the XCom's index_sha256"
        )
    store, ref = open_run(args.run, args)
    problems: list[VerifyProblem] = []
    if expected is not None and expected != ref.index_sha256:
        detail = f"sha256 {ref.index_sha256} != expected {expected} (the index_sha256 from XCom)"
        problems.append(VerifyProblem("checksum", "index.json", None, detail))
    with out.progress(f"verifying {ref.uri}"):
        report = store.verify(ref=ref)
    problems += report.problems
    if out.json_mode:
        out.emit_json(
            {
                "uri": ref.uri,
                "ok": not problems,
                "files_checked": report.files_checked,
                "problems": [_problem_json(p) for p in problems],
            }
        )
    elif problems:
        out.table(
            (Column("PROBLEM"), Column("NODE"), Column("PATH", fold=True), Column("DETAIL", fold=True)),
            [[p.kind, p.unique_id or "-", p.path, p.detail] for p in problems],
            title=f"{ref.uri}: {len(problems)} problem(s)",
            styles={"missing": "red", "checksum": "red", "unexpected": "yellow"},
        )
    if problems:
        out.note(
            f"FAILED: {len(problems)} problem(s) in {report.files_checked} indexed files of {ref.uri}; do not run "
            f"this run's SQL: re-run the setup task of the DAG run to publish a fresh one",
            style="bold red",
        )
        return ExitCode.MISMATCH
    if not out.json_mode:
        out.note(f"OK: {report.files_checked} files match the index of {ref.uri}", style="bold green")
    return ExitCode.OK


@dataclass(frozen=True)
class NodeChange:
    """One node that differs between two runs.

    Attributes:
        unique_id: The dbt unique id.
        status: ``added`` (only in B), ``removed`` (only in A) or ``changed``.
        reasons: What changed: the file name, ``materialization``, ``relation``.
    """

    unique_id: str
    status: str
    reasons: tuple[str, ...]


def compare_nodes(a: Mapping[str, NodeEntry], b: Mapping[str, NodeEntry], *, name: str) -> list[NodeChange]:
    """The nodes added, removed or changed from ``a`` to ``b``, comparing file ``name`` by sha256 and the metadata.

    Example:
        >>> compare_nodes({}, {}, name="script")
        []
    """
    changes = [NodeChange(n, "removed", ()) for n in sorted(set(a) - set(b))]
    changes += [NodeChange(n, "added", ()) for n in sorted(set(b) - set(a))]
    for unique_id in sorted(set(a) & set(b)):
        old, new = a[unique_id], b[unique_id]
        reasons = []
        old_file, new_file = old.files.get(name), new.files.get(name)
        if (old_file.sha256 if old_file else None) != (new_file.sha256 if new_file else None):
            reasons.append(name)
        if old.materialization != new.materialization:
            reasons.append("materialization")
        if old.relation != new.relation:
            reasons.append("relation")
        if reasons:
            changes.append(NodeChange(unique_id, "changed", tuple(reasons)))
    return sorted(changes, key=lambda c: c.unique_id)


def _fetcher(
    store: FsspecArtifactStore, ref: ArtifactRef, nodes: Mapping[str, NodeEntry], name: str
) -> Callable[[str], str]:
    def fetch(unique_id: str) -> str:
        if unique_id not in nodes or name not in nodes[unique_id].files:
            return ""
        return store.fetch(ref=ref, unique_id=unique_id, name=name).decode("utf-8", errors="replace")

    return fetch


def run_diff(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote diff RUN_A RUN_B [--compiled | --file NAME] [--name-only]``."""
    name = "compiled" if args.compiled else (args.file or PRIMARY_FILE)
    store_a, ref_a = open_run(args.run_a, args)
    store_b, ref_b = open_run(args.run_b, args)
    nodes_a, nodes_b = store_a.list_nodes(ref=ref_a), store_b.list_nodes(ref=ref_b)
    changes = compare_nodes(nodes_a, nodes_b, name=name)
    diffs: dict[str, str] = {}
    if not args.name_only:
        diffs = _diffs(out, changes, (store_a, ref_a, nodes_a), (store_b, ref_b, nodes_b), name=name)
    unchanged = len(set(nodes_a) & set(nodes_b)) - sum(1 for c in changes if c.status == "changed")
    if out.json_mode:
        out.emit_json(
            {
                "a": ref_a.uri,
                "b": ref_b.uri,
                "file": name,
                "identical": not changes,
                "unchanged": unchanged,
                "changes": [
                    {
                        "unique_id": c.unique_id,
                        "status": c.status,
                        "reasons": list(c.reasons),
                        "diff": diffs.get(c.unique_id),
                    }
                    for c in changes
                ],
            }
        )
    else:
        _print_diff(out, changes, diffs)
        counts = {s: sum(1 for c in changes if c.status == s) for s in ("added", "removed", "changed")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no differences"
        out.note(f"{summary}, {unchanged} unchanged ({name} files): a = {ref_a.uri}, b = {ref_b.uri}", style="bold")
    return ExitCode.MISMATCH if changes else ExitCode.OK


Side = tuple[FsspecArtifactStore, ArtifactRef, Mapping[str, NodeEntry]]


def _diffs(out: Output, changes: list[NodeChange], side_a: Side, side_b: Side, *, name: str) -> dict[str, str]:
    fetch_a, fetch_b = _fetcher(*side_a, name), _fetcher(*side_b, name)
    wanted = [c for c in changes if name in c.reasons or c.status != "changed"]
    texts: dict[str, str] = {}
    with out.progress("fetching changed files", total=len(wanted)) as advance:

        def both(change: NodeChange) -> tuple[NodeChange, str, str]:
            result = change, fetch_a(change.unique_id), fetch_b(change.unique_id)
            advance(1)
            return result

        try:
            with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
                fetched = list(pool.map(both, wanted))
        except ChecksumMismatchError as exc:
            raise CliError(ExitCode.MISMATCH, f"{exc} (`cosmos-remote verify` lists every damaged file)") from exc
    nodes_a, nodes_b = side_a[2], side_b[2]
    for change, old, new in fetched:
        old_path = _path(nodes_a, change.unique_id, name)
        new_path = _path(nodes_b, change.unique_id, name)
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{old_path}" if old_path else "/dev/null",
            tofile=f"b/{new_path}" if new_path else "/dev/null",
        )
        texts[change.unique_id] = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return texts


def _path(nodes: Mapping[str, NodeEntry], unique_id: str, name: str) -> str | None:
    entry = nodes.get(unique_id)
    stored = entry.files.get(name) if entry else None
    return stored.path if stored else None


def _print_diff(out: Output, changes: list[NodeChange], diffs: Mapping[str, str]) -> None:
    if changes:
        out.table(
            (Column("STATUS"), Column("NODE"), Column("WHAT")),
            [[c.status, c.unique_id, ", ".join(c.reasons) or "-"] for c in changes],
            styles={"added": "green", "removed": "red", "changed": "yellow"},
        )
    for change in changes:
        text = diffs.get(change.unique_id)
        if text:
            out.write("")
            out.highlighted(text.rstrip("\n"), lexer="diff")
