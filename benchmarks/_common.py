"""What every benchmark records about the machine it ran on, and how benchmarks run a measuring child process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
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


def run_json_child(
    python: Path, script: str, spec: dict[str, Any], *, env: dict[str, str], work: Path, name: str, timeout: float
) -> dict[str, Any]:
    """Run ``python -c script SPEC_JSON`` in ``work``; the script writes its JSON result to ``spec["out"]``.

    Returns that result with ``load_before`` (the 1-minute load average at the start), or ``{"error": ...}`` with the
    last lines of the child's output (appended to ``work/{name}.log``) when it wrote none.
    """
    out = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".json", dir=work)[1])
    log = work / f"{name}.log"
    load_before = os.getloadavg()[0]
    with log.open("a") as stream:
        completed = subprocess.run(
            [str(python), "-c", script, json.dumps({**spec, "out": str(out)})],
            cwd=work,
            env=env,
            stdout=stream,
            stderr=stream,
            timeout=timeout,
            check=False,
        )
    if not out.read_text():
        tail = log.read_text().strip().splitlines()[-3:]
        return {"error": f"{name} exited {completed.returncode}: {' | '.join(tail)}"[:500]}
    result: dict[str, Any] = json.loads(out.read_text())
    result["load_before"] = load_before
    return result
