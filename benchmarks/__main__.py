"""``make bench``: run every benchmark module (or those named on the command line) and write benchmarks/results/."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

#: Run only when named (``make soak``): a long reliability run, not a speed benchmark.
SEPARATE = frozenset({"soak"})


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    modules = (m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    names = argv or sorted(name for name in modules if name not in SEPARATE)
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n=== benchmarks/{name}.py ===", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"(benchmarks/{name}.py took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
