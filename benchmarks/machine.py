"""One description of the machine a benchmark ran on, shared by every benchmark script."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _first_value(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def describe_machine(*packages: str) -> str:
    """CPU model, cores, RAM, OS, Python, the load average now, and the versions of ``packages``."""
    cpu = _first_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    memory_kb = _first_value("/proc/meminfo", "MemTotal")
    memory = f"{int(memory_kb.split()[0]) / 1024**2:.0f} GB RAM" if memory_kb else "RAM unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} not installed")
    return ", ".join([f"{cpu}", f"{os.cpu_count()} cores", memory,
                      f"{platform.system()} {platform.release()}", f"Python {platform.python_version()}",
                      *versions, f"load average {load:.1f}"])
