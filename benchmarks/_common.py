"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine_info(*, load_before: float) -> dict[str, Any]:
    """Python, CPUs, platform and the 1-minute load average at the start and now (benchmarks share machines)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m": {"start": load_before, "end": os.getloadavg()[0]},
    }
