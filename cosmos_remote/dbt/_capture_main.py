"""Entry script of the capture process: ``python _capture_main.py REQUEST.json``.

It runs under the Python of the environment that holds dbt (``sys.executable`` or the interpreter next to a
``dbt_executable_path``), loads the warehouse backend's capture package by file path (``capture_package`` in the
request, e.g. ``cosmos_remote/backends/bigquery/capture``), invokes dbt once with its capturing adapter, and writes
the response JSON to the path named in the request. It imports only the standard library, dbt
and sqlglot; when the dbt environment has no sqlglot, the request may name a folder holding only sqlglot (the parent
process links its own copy there), appended to ``sys.path``.

Request: ``{"args": [dbt command line], "capture_package": str, "response_path": str, "sqlglot_path": str | null,
"stream_path": str | null}`` (``stream_path``: a JSON-lines file that gets each node as soon as dbt finishes it).
Exit status 0 when the response was written (whatever dbt's outcome), non-zero otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

_PACKAGE = "_cosmos_remote_capture"


def _load_capture_package(folder: str) -> Any:
    """Import the capture package under a private name, so that its relative imports work without cosmos_remote."""
    here = Path(folder).resolve()
    spec = importlib.util.spec_from_file_location(
        _PACKAGE, here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the capture package from {here}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{_PACKAGE}.invoke")


def _ensure_sqlglot(extra_path: str | None) -> None:
    try:
        importlib.import_module("sqlglot")
    except ImportError:
        if not extra_path:
            raise ImportError(
                "sqlglot is not installed in the dbt environment; install it there (pip install sqlglot)"
            ) from None
        sys.path.append(extra_path)
        importlib.import_module("sqlglot")


def main(argv: list[str]) -> int:
    """Run the request named by ``argv[0]``; see the module docstring."""
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    response_path = Path(request["response_path"])
    try:
        _ensure_sqlglot(request.get("sqlglot_path"))
        response = _load_capture_package(request["capture_package"]).run_capture(
            list(request["args"]), stream_path=request.get("stream_path")
        )
    except BaseException as error:  # the parent needs a response whatever went wrong
        response = {
            "ok": False,
            "exception": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
            "errors": [],
            "nodes": [],
        }
    temporary = response_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(response, default=str), encoding="utf-8")
    os.replace(temporary, response_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
