"""What every benchmark prints about the machine it ran on: CPUs, model, Python, load.

Benchmarks run as scripts (`python bench/x.py`), so this sits beside them and is imported as
`from machine import machine`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()}, "
            f"{platform.system()}, {load}")
