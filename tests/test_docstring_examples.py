"""Every example in the package's docstrings runs and prints what it says (the docs quote them)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cosmos_remote

#: Entry points run as programs, not imported for their examples.
_PROGRAMS = ("__main__", "_capture_main", "testing._proxy", "testing._relay")
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(cosmos_remote.__path__, "cosmos_remote.") if not m.name.endswith(_PROGRAMS)
)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {module} failed"
