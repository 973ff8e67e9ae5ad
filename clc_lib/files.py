"""Writing files safely: a file appears complete or not at all.

Used wherever ``clc`` writes a file that something else may read meanwhile: the transcoded copies
of the sources (:mod:`clc_lib.sources`), cleaned tables written as Parquet and the run cache
(:mod:`clc_lib.loading`, :mod:`clc_lib.run`), reports and score files.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clc_lib.paths import process_running

__all__ = ["atomic_write"]


@contextmanager
def atomic_write(path: str | Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the folder of ``path``; on success move it onto ``path`` atomically.

    Readers never see a half-written file: the data are written to ``.<name>.<pid>.<random>.tmp``
    next to the target and renamed with :func:`os.replace`. The result gets the permission bits
    ``mode`` when given (e.g. 0o600 for private files); otherwise it keeps those of the file it
    replaces (a new file gets the umask's default, e.g. 0644). On an exception the temporary
    file is removed and ``path`` is left as it was; temporary files that a killed process left
    behind (their process id no longer runs) are removed by the next write of the same path.

    Examples
    --------
    >>> with atomic_write(tmp_dir / "summary.parquet") as tmp:  # doctest: +SKIP
    ...     frame.to_parquet(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as DuckDB's COPY want to create the file themselves
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, _mode_for(target) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """Permission bits for a file written onto ``target``: those of the file it replaces, else the umask's."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # read without changing it where the system tells (Linux); os.umask can only set and return
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current



def remove_abandoned_temporaries(target: str | Path) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` for ``target`` whose writer no longer runs.

    A process killed while writing (SIGKILL, a power cut) cannot clean up after itself; its
    ``.<name>.<pid>.<random>.tmp`` file stays. Files of running processes are left alone.

    Returns
    -------
    list of Path
        The files (or folders) removed.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
    removed = []
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.iterdir():
        match = pattern.match(candidate.name)
        if match is None or process_running(int(match.group(1))):
            continue
        if candidate.is_dir():
            import shutil

            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed
