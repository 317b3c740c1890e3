"""``ls`` (the nodes of a run) and ``show`` (one node's SQL)."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping
from typing import Any

from cosmos_remote.artifacts import PRIMARY_FILE, NodeEntry, NodeNotFoundError, RunIndex
from cosmos_remote.cli._base import CliError, Column, ExitCode, Output, add_common_arguments, human_bytes, open_run

__all__ = ["register", "resolve_node"]

_LEXERS = {"csv": "text"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ls`` and ``show`` to the command parser."""
    ls = commands.add_parser(
        "ls",
        help="list the nodes of a run",
        description="List the dbt nodes of the run at RUN_URI (a run prefix, as printed by the setup task or "
        "`cosmos-remote runs`): node id, resource type, materialization, bytes and path of the script each task "
        "runs. Exit codes: 0, 2, 3, 4.",
    )
    ls.add_argument("run", metavar="RUN_URI", help="the run prefix, e.g. gs://bucket/cosmos/my_dag/manual__...")
    ls.add_argument(
        "--type",
        metavar="TYPE",
        action="append",
        dest="types",
        help="only nodes of this resource type (model, seed, snapshot, test); repeatable",
    )
    add_common_arguments(ls)
    ls.set_defaults(handler=run_ls)

    show = commands.add_parser(
        "show",
        help="print a node's SQL",
        description="Print the script a node's task runs (or, with --compiled, the compiled SELECT), verified "
        "against the run's index. NODE is a unique id (model.jaffle_shop.orders), a package-qualified name "
        "(jaffle_shop.orders), a name (orders) when only one node has it, or a file path from `ls`. "
        "Syntax-highlighted on a terminal, unchanged when piped. Exit codes: 0, 1, 2, 3, 4.",
    )
    show.add_argument("run", metavar="RUN_URI", help="the run prefix")
    show.add_argument("node", metavar="NODE", help="unique id, name, or path of the node")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--compiled", action="store_true", help="the compiled SELECT instead of the script")
    which.add_argument(
        "--file", metavar="NAME", help="another file of the node: script, compiled, csv (seeds), query (tests)"
    )
    add_common_arguments(show)
    show.set_defaults(handler=run_show)


def _short_names(unique_id: str) -> set[str]:
    parts = unique_id.split(".")
    names = {unique_id}
    if len(parts) >= 3:
        names |= {parts[2], f"{parts[1]}.{parts[2]}"}
    return names


def resolve_node(nodes: Mapping[str, NodeEntry], query: str, *, uri: str) -> str:
    """The unique id ``query`` names in ``nodes``: an id, ``package.name``, ``name`` or a file path.

    Raises:
        CliError: No node matches (exit 3, with close matches) or several do (exit 2, listing them).
    """
    if query in nodes:
        return query
    matches = sorted(
        unique_id
        for unique_id, entry in nodes.items()
        if query in _short_names(unique_id) or any(f.path == query for f in entry.files.values())
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CliError(
            ExitCode.USAGE,
            f"node name {query!r} is ambiguous in {uri}: it matches {', '.join(matches)}; pass one of these ids",
        )
    names = sorted({name for unique_id in nodes for name in _short_names(unique_id)})
    close = difflib.get_close_matches(query, names, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise CliError(
        ExitCode.NOT_FOUND,
        f"no node {query!r} in {uri} ({len(nodes)} nodes); {hint}list them with `cosmos-remote ls {uri}`",
    )


def _node_json(unique_id: str, entry: NodeEntry) -> dict[str, Any]:
    script = entry.files.get(PRIMARY_FILE)
    return {
        "unique_id": unique_id,
        "resource_type": entry.resource_type,
        "package_name": entry.package_name,
        "materialization": entry.materialization,
        "relation": entry.relation.to_json(),
        "bytes": script.bytes if script else None,
        "path": script.path if script else None,
        "files": {name: {"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for name, f in entry.files.items()},
    }


def _run_json(uri: str, index: RunIndex) -> dict[str, Any]:
    return {
        "uri": uri,
        "project_name": index.project_name,
        "dbt_version": index.dbt_version,
        "created_at": index.created_at,
        "dag_id": index.scope.dag_id,
        "task_group": index.scope.task_group,
        "run_id": index.scope.run_id,
        "total_bytes": index.total_bytes,
    }


def run_ls(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote ls RUN_URI [--type TYPE]``."""
    store, ref = open_run(args.run, args)
    index = store.read_index(ref=ref)
    wanted = set(args.types or ())
    nodes = {
        unique_id: entry
        for unique_id, entry in sorted(index.nodes.items())
        if not wanted or entry.resource_type in wanted
    }
    if out.json_mode:
        out.emit_json({**_run_json(ref.uri, index), "nodes": [_node_json(n, e) for n, e in nodes.items()]})
        return ExitCode.OK
    columns = (
        Column("NODE"),
        Column("TYPE"),
        Column("MATERIALIZATION"),
        Column("BYTES", justify="right"),
        Column("PATH", fold=True),
    )
    rows = [
        [
            unique_id,
            entry.resource_type,
            entry.materialization or "-",
            str(entry.files[PRIMARY_FILE].bytes) if PRIMARY_FILE in entry.files else "-",
            entry.files[PRIMARY_FILE].path if PRIMARY_FILE in entry.files else "-",
        ]
        for unique_id, entry in nodes.items()
    ]
    scope = index.scope
    title = (
        f"{ref.uri}\n{index.project_name}, dbt {index.dbt_version}, DAG {scope.dag_id}"
        f"{'/' + scope.task_group if scope.task_group else ''}, run {scope.run_id}, created {index.created_at}: "
        f"{len(nodes)} of {len(index.nodes)} nodes, {human_bytes(index.total_bytes)} in total"
    )
    if rows:
        out.table(columns, rows, title=title)
    else:
        out.note(f"no nodes of type {', '.join(sorted(wanted))} in {ref.uri} ({len(index.nodes)} nodes in all)")
    return ExitCode.OK


def run_show(args: argparse.Namespace, out: Output) -> int:
    """``cosmos-remote show RUN_URI NODE [--compiled | --file NAME]``."""
    store, ref = open_run(args.run, args)
    index = store.read_index(ref=ref)
    unique_id = resolve_node(index.nodes, args.node, uri=ref.uri)
    name = "compiled" if args.compiled else (args.file or PRIMARY_FILE)
    entry = index.nodes[unique_id]
    if name not in entry.files:
        raise CliError(
            ExitCode.NOT_FOUND,
            f"node {unique_id} has no {name!r} file in {ref.uri} (it has: {', '.join(sorted(entry.files))}); pass "
            f"--file with one of these",
        )
    try:
        data = store.fetch(ref=ref, unique_id=unique_id, name=name)
    except NodeNotFoundError as exc:  # the index changed between the two reads: cannot happen for a committed run
        raise CliError(ExitCode.NOT_FOUND, str(exc)) from exc
    stored = entry.files[name]
    text = data.decode("utf-8", errors="replace")
    if out.json_mode:
        out.emit_json(
            {
                "uri": ref.uri,
                "unique_id": unique_id,
                "file": name,
                "path": stored.path,
                "sha256": stored.sha256,
                "bytes": stored.bytes,
                "content": text,
            }
        )
        return ExitCode.OK
    if out.rich:
        out.note(f"-- {unique_id} ({name}): {ref.uri}/{stored.path}", style="dim")
    out.highlighted(text, lexer=_LEXERS.get(name, "sql"))
    return ExitCode.OK
