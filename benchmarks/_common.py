"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine_info(*, load_before: float) -> dict[str, Any]:
    """Python, CPUs, platform and the 1-minute load average at the start and now (benchmarks share machines)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m": {"start": load_before, "end": os.getloadavg()[0]},
    }


def write_results(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` as indented JSON to ``path`` atomically (a reader never sees half a file); say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    print(f"\nwrote {path}")
