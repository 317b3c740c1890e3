"""The tables of the Benchmarks page, generated from ``benchmarks/results/*.json`` when the site is built.

An mkdocs hook (``hooks: [docs/_gen_benchmarks.py]`` in mkdocs.yml): on ``benchmarks.md`` it replaces the line
``<!-- benchmark-results -->`` with one section per results file. It renders whatever files exist, in any shape the
benchmarks write: scalars become a field/value table, lists of records become tables (transposed when they have
many fields and few rows), nested objects become sub-sections. A missing folder, no files or an unreadable file
never fails the build; the page says so instead. The description of each benchmark is the docstring of
``benchmarks/<name>.py``.

Run it alone to print the Markdown: ``python docs/_gen_benchmarks.py [RESULTS_DIR]``.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["MARKER", "on_page_markdown", "render_results"]

MARKER: Final = "<!-- benchmark-results -->"
PAGE: Final = "benchmarks.md"
_HEADER_KEYS: Final = ("benchmark", "when", "generated_at")
_TRANSPOSE_COLUMNS: Final = 8
_TRANSPOSE_ROWS: Final = 8
_MAX_SCALAR_LIST: Final = 12

_ESCAPES: Final = {"\\": "\\\\", "_": "\\_", "*": "\\*", "<": "&lt;"}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_scalar(item) for item in value)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(value: Any) -> str:
    if value is None:
        text = "n/a"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = _number(value)
    elif isinstance(value, list):
        shown = [_cell(item) for item in value[:_MAX_SCALAR_LIST]]
        text = ", ".join(shown) + (f", … ({len(value)} in all)" if len(value) > _MAX_SCALAR_LIST else "")
    else:
        text = str(value)
        for char, escaped in _ESCAPES.items():
            text = text.replace(char, escaped)
    return text.replace("|", "\\|").replace("\n", " ").strip() or "n/a"


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars and scalar lists of a record, nested keys joined with dots; lists of records are left out."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif _is_scalar(value) or _is_scalar_list(value):
            flat[name] = value
    return flat


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _records_table(records: Sequence[Mapping[str, Any]]) -> list[str]:
    flat = [_flatten(record) for record in records]
    columns: list[str] = []
    for record in flat:
        columns += [key for key in record if key not in columns]
    if not columns:
        return []
    if len(columns) > _TRANSPOSE_COLUMNS and len(flat) <= _TRANSPOSE_ROWS:
        first = columns[0]
        header = ["", *(f"{first} = {_cell(record.get(first))}" for record in flat)]
        rows = [[f"`{key}`", *(_cell(record.get(key)) for record in flat)] for key in columns[1:]]
        return _table(header, rows)
    return _table([f"`{key}`" for key in columns], [[_cell(record.get(key)) for key in columns] for record in flat])


def _fields_table(fields: Mapping[str, Any]) -> list[str]:
    return _table(["field", "value"], [[f"`{key}`", _cell(value)] for key, value in fields.items()])


def _section(document: Mapping[str, Any], *, level: int, skip: Sequence[str] = ()) -> list[str]:
    """A JSON object as Markdown: its scalars first, then one sub-section per nested object or list of records."""
    lines: list[str] = []
    scalars = {
        key: value
        for key, value in document.items()
        if key not in skip and (_is_scalar(value) or _is_scalar_list(value))
    }
    plain_objects = {
        key: value
        for key, value in document.items()
        if isinstance(value, dict) and not any(_is_record_list(v) or isinstance(v, dict) for v in value.values())
    }
    scalars.update(
        {key: value for name, obj in plain_objects.items() for key, value in _flatten(obj, f"{name}.").items()}
    )
    if scalars:
        lines += _fields_table(scalars)
    for key, value in document.items():
        if key in plain_objects or key in skip:
            continue
        if _is_record_list(value):
            lines += [f"{'#' * level} {key}", "", *_records_table(value)]
        elif isinstance(value, dict):
            lines += [f"{'#' * level} {key}", "", *_section(value, level=min(level + 1, 6))]
    return lines


def _description(modules_dir: Path, stem: str) -> list[str]:
    module = modules_dir / f"{stem}.py"
    try:
        docstring = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, ValueError):
        return []
    if not docstring:
        return []
    summary, _, rest = docstring.replace("``", "`").partition("\n")
    lines = [summary.strip(), ""]
    if rest.strip():
        body = ["    " + line if line.strip() else "" for line in rest.strip().splitlines()]
        lines += [f'??? info "How `benchmarks/{stem}.py` measures"', "", *body, ""]
    return lines


def _document(document: Any, *, name: str, description: list[str]) -> list[str]:
    if not isinstance(document, dict):
        document = {"results": document} if _is_record_list(document) else {"value": document}
    when = next((document[k] for k in ("when", "generated_at") if isinstance(document.get(k), str | int | float)), None)
    lines = [*description, f"*From `benchmarks/results/{name}`" + (f", measured {when}.*" if when else ".*"), ""]
    return lines + _section(document, level=3, skip=_HEADER_KEYS)


def render_results(results_dir: Path, *, modules_dir: Path | None = None) -> str:
    """Markdown for every ``*.json`` in ``results_dir`` (sorted by name); never raises for missing or bad files.

    Args:
        results_dir: The folder the benchmarks write (``benchmarks/results``).
        modules_dir: Where ``<name>.py`` describes each benchmark (default: the parent of ``results_dir``).
    """
    modules = modules_dir if modules_dir is not None else results_dir.parent
    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    if not files:
        return (
            '!!! note "No results yet"\n\n'
            "    No `benchmarks/results/*.json` file was found when this site was built. Run `make bench` (or "
            "`make bench BENCH=<name>`) and rebuild the docs.\n"
        )
    lines: list[str] = []
    for path in files:
        lines += [f"## {path.stem}", ""]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            lines += [
                f'!!! warning "`benchmarks/results/{path.name}` could not be read"',
                "",
                f"    {type(error).__name__}: {_cell(str(error))}. Run the benchmark again to rewrite it.",
                "",
            ]
            continue
        try:
            lines += _document(document, name=path.name, description=_description(modules, path.stem))
        except Exception as error:  # a shape this renderer does not expect must not break the site
            lines += [f'!!! warning "`benchmarks/results/{path.name}` could not be rendered"', "", f"    {error!r}", ""]
    return "\n".join(lines).rstrip() + "\n"


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: fill the marker of the Benchmarks page with the generated tables."""
    if page.file.src_uri != PAGE or MARKER not in markdown:
        return markdown
    root = Path(config["config_file_path"]).resolve().parent
    return markdown.replace(MARKER, render_results(root / "benchmarks" / "results"))


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    sys.stdout.write(render_results(folder))
