"""Run every benchmark at its default size, one after the other (``make bench``).

Each script prints its own table with the machine description; pass sizes to the scripts
directly for the full runs documented in benchmarks/README.md. The scale benchmark also writes
benchmarks/RESULTS.md; its 100M-row run is on request (``bench_scale.py --with-100m``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    ["bench_load.py"],
    ["bench_stages.py"],
    ["bench_clv.py", "--quick"],
    ["bench_reports.py"],
    ["bench_scale.py"],  # 1M and 10M rows, every step and the whole report; writes benchmarks/RESULTS.md
)


def main() -> int:
    failed = []
    for script, *args in SCRIPTS:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
