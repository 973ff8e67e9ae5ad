"""The reports folder: run folders and their names, the lock, which config owns a folder, leftovers of
interrupted runs, the private working folder, write errors and pruning of old runs.

A published run is ``<out>/<config name>/<YYYYmmdd-HHMMSS>_<as_of>/`` with its ``run.json``; ``latest``
links point to the newest complete run. :func:`clc_lib.report.run_report` uses these pieces in order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clc_lib.config import RunConfig
from clc_lib.errors import ClcError, ConfigError
from clc_lib.paths import process_running
from clc_lib.rendering import display_path, inside

__all__ = ["OutputFolderError", "ReportLockedError", "private_runs_root", "run_folder_name"]

LOCK_NAME = ".clc-report.lock"
LATEST_NAME = "latest"
TMP_PREFIX = ".tmp-"  # a run being assembled in the reports folder, renamed into place when complete
RUN_MANIFEST = "run.json"
#: Records which run config owns ``<out>/<name>/``: two configs never share a folder.
CONFIG_IDENTITY_FILE = ".clc-config.json"
#: Inside a ``.tmp-`` folder while it is assembled: ``pid N`` of the run that made it.
STAGING_MARKER = ".clc-staging"
#: Names of the folders and links the runner creates in the reports folder; the pid is the run's.
STAGING_PATTERN = re.compile(r"^\.tmp-\d{8}-\d{6}-(\d+)$")
TEMPORARY_LINK_PATTERN = re.compile(r"^\.latest\.tmp-(\d+)$")
#: The run cache of earlier versions of the runner, which kept it in the reports folder.
LEGACY_CACHE_PATTERN = re.compile(r"^\.cache-(\d+)$")
LEGACY_CACHE_ENTRY = re.compile(r"^\.?(key\.json|run\.pickle|transactions\.parquet|events\.parquet|results)"
                                r"(\..+\.tmp)?$")
#: A run's private working folder (run cache, executing notebooks, logs) under :func:`private_runs_root`.
PRIVATE_FOLDER_PATTERN = re.compile(r"^run-(\d+)-[A-Za-z0-9_]+$")
PRIVATE_OWNER_FILE = "owner.json"
RESERVED_NAMES = (LATEST_NAME,)  # compared case-insensitively
MAX_NAME_CHARS = 100
RUN_FOLDER_PATTERN = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?_")

STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
STATUS_PARTIAL = "partial"  # an --only run: published, but "latest" stays on the last complete run


class ReportLockedError(ClcError):
    """Another report run holds the lock on the same output folder."""


class OutputFolderError(ClcError):
    """A folder the run writes to is full, read-only or not writable; nothing was published."""


# --- the lock --------------------------------------------------------------------------------

LOCK_RETRY_SECONDS = 10.0  # how long to wait for a lock whose owner process is gone


def _lock_holder(text: str) -> int | None:
    match = re.match(r"pid (\d+)", text.strip())
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def output_lock(out_root: Path, log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``out_root`` for the whole run.

    The lock is an ``flock`` on ``<out>/.clc-report.lock``, which the kernel releases when the
    holding process ends, even by SIGKILL. The file names the holder (``pid N, started ...``) and
    is emptied when a run ends normally, so a run that finds a name in it knows that the previous
    run was killed and says so (``log``). A lock still held although the named process is gone (a
    stray process that inherited it) is waited for up to :data:`LOCK_RETRY_SECONDS`.
    """
    import fcntl

    lock_path = out_root / LOCK_NAME
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                pid = _lock_holder(holder)
                if pid is None or process_running(pid) or time.monotonic() > deadline:
                    gone = pid is not None and not process_running(pid)
                    raise ReportLockedError(
                        f"Another report run is writing to {out_root} ({holder or 'another process'}"
                        + (", which has ended, but a process it started still holds the lock; find it "
                           f"with: fuser {lock_path}" if gone else "")
                        + "). Wait for it to finish, or give this run another folder with --out."
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        previous = handle.read().strip()
        previous_pid = _lock_holder(previous)
        if previous_pid is not None and previous_pid != os.getpid() and log is not None:
            log(f"taking over the lock of an earlier run that did not finish ({previous}; that process is "
                f"{'still running but no longer holds the lock' if process_running(previous_pid) else 'gone'})")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {dt.datetime.now():%Y-%m-%d %H:%M:%S}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file tells the next run that this one ended in order
    finally:
        handle.close()


# --- published runs --------------------------------------------------------------------------

def read_recorded(path: Path) -> dict[str, Any]:
    """The JSON object a runner file holds (run.json, owner records); empty when missing or unreadable."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def run_folders(config_folder: Path) -> list[Path]:
    """Published run folders of one config, oldest first (``-2`` suffixes order runs in the same second)."""
    if not config_folder.is_dir():
        return []

    def order(path: Path) -> tuple[str, int]:
        match = RUN_FOLDER_PATTERN.match(path.name)
        return match.group(1), int(match.group(2) or 1)

    return sorted((p for p in config_folder.iterdir()
                   if p.is_dir() and not p.is_symlink() and RUN_FOLDER_PATTERN.match(p.name)), key=order)


def previous_complete_run(config_folder: Path) -> tuple[str, dict[str, Any]] | None:
    """Run id and manifest of the newest complete run in ``config_folder``."""
    for folder in reversed(run_folders(config_folder)):
        manifest = read_recorded(folder / RUN_MANIFEST)
        if manifest.get("status") == STATUS_COMPLETE:
            return folder.name, manifest
    return None


def temporary_symlink(link: Path, target: str) -> Path:
    """A new link to ``target`` beside ``link``, to be renamed over it (:func:`os.replace` is atomic)."""
    temporary = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    return temporary


def prune_plan(config_folder: Path, keep: int, new_run: str, latest: str | None,
               new_run_complete: bool = True) -> list[str]:
    """The run folders to delete once ``new_run`` is published: the oldest beyond ``keep``.

    Never ``latest`` nor the newest complete run, so partial and failed runs cannot push
    every complete run out.
    """
    runs = [p.name for p in run_folders(config_folder)] + [new_run]
    if len(runs) <= keep:
        return []
    newest_complete = new_run if new_run_complete else None
    if newest_complete is None:
        previous = previous_complete_run(config_folder)
        newest_complete = previous[0] if previous else None
    protected = {latest, newest_complete}
    return [name for name in runs[:-keep] if name not in protected]


def latest_run(config_folder: Path) -> str | None:
    """The run the config's ``latest`` link points to, or None without a link."""
    link = config_folder / LATEST_NAME
    return os.readlink(link) if link.is_symlink() else None


# --- run folders, the private working folder, write errors -----------------------------------------

def run_folder_name(name: Any) -> str:
    """The folder of a config's runs under the reports folder, from its ``name:``.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``.

    Raises
    ------
    ConfigError
        The name would leave the reports folder or collide with the runner's own files: it holds
        ``/`` or ``\\`` or control characters, is ``.`` or ``..``, starts with ``.`` (the runner's
        ``.tmp-`` folders and lock), is ``latest`` (the link to the newest run), has no letter or
        digit, or is longer than :data:`MAX_NAME_CHARS` characters.
    """
    text = str(name)
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    reason = None
    if "/" in text or "\\" in text:
        reason = "it holds a '/' or '\\', which would make it a path instead of one folder"
    elif any(ord(character) < 32 or ord(character) == 127 for character in text):
        reason = "it holds control characters"
    elif label in (".", ".."):
        reason = "it names the reports folder itself or its parent"
    elif label.startswith("."):
        reason = "names starting with '.' are kept for the runner's own files (.tmp-..., .clc-report.lock)"
    elif label.lower() in RESERVED_NAMES:
        reason = f"'{LATEST_NAME}' is the link to the newest complete run"
    elif not re.search(r"[A-Za-z0-9]", label):
        reason = "it has no letter or digit"
    elif len(label) > MAX_NAME_CHARS:
        reason = f"it is longer than {MAX_NAME_CHARS} characters"
    if reason is not None:
        raise ConfigError(f"name: {text!r} cannot name the folder of this config's runs: {reason}. Give the "
                          "run config a name of letters, digits, '-', '_' and '.', e.g. name: retail-eu.")
    return label


def config_identity(run_config: RunConfig) -> dict[str, str]:
    """What identifies a run config: its file (resolved path, kept as a SHA-256 so that no local
    path reaches the reports folder), with its name and display path for messages."""
    path = Path(run_config.source).expanduser().resolve()
    return {"name": str(run_config.name), "config": display_path(path),
            "config_sha256": hashlib.sha256(str(path).encode("utf-8")).hexdigest()}


def check_config_folder(config_folder: Path, identity: dict[str, str]) -> bool:
    """Refuse a folder of runs that belongs to another run config; return whether it records its owner.

    Raises
    ------
    ConfigError
        The folder is a link or a file, or it records another config.
    """
    if config_folder.is_symlink() or (config_folder.exists() and not config_folder.is_dir()):
        raise ConfigError(f"{config_folder} is {'a link' if config_folder.is_symlink() else 'a file'}, not a folder "
                          "of report runs; give the run config another name: or use another --out.")
    recorded_file = config_folder / CONFIG_IDENTITY_FILE
    if not recorded_file.is_file():
        return False
    recorded = read_recorded(recorded_file)
    if recorded.get("config_sha256") != identity["config_sha256"]:
        raise ConfigError(
            f"{config_folder} holds the runs of another run config ({recorded.get('config', 'unknown')}, "
            f"name: {recorded.get('name')!r}); this config ({identity['config']}, name: {identity['name']!r}) "
            "would share it: its index would compare the two and report.keep would delete the other's runs. "
            "Give this config a name: of its own, or another --out. If this config replaces the other one "
            f"(a moved or renamed file), delete {recorded_file} to hand the folder over.")
    return True


def record_config_identity(config_folder: Path, identity: dict[str, str]) -> None:
    """Write which run config owns ``config_folder`` (see :func:`check_config_folder`)."""
    from clc_lib.files import atomic_write

    with atomic_write(config_folder / CONFIG_IDENTITY_FILE, mode=0o644) as temporary:
        temporary.write_text(json.dumps(identity, indent=1) + "\n", encoding="utf-8")


def _made_by_runner(folder: Path, pid: int) -> bool:
    """Whether a ``.tmp-`` or ``.cache-`` folder was made by this tool (a marker, or the layout of the
    folders of earlier versions, which had none)."""
    marker = folder / STAGING_MARKER
    if marker.is_file():
        return marker.read_text(encoding="utf-8", errors="replace").strip() == f"pid {pid}"
    if LEGACY_CACHE_PATTERN.match(folder.name):
        return all(LEGACY_CACHE_ENTRY.match(entry.name) for entry in folder.iterdir())
    return (folder / "logs").is_dir() and (folder / "key_figures").is_dir()


def remove_leftovers(out_root: Path, log: Callable[[str], None]) -> None:
    """Remove what interrupted runs left in the reports folder, and nothing else.

    Only folders and links this tool makes (see :data:`STAGING_PATTERN`, :data:`TEMPORARY_LINK_PATTERN`,
    :data:`LEGACY_CACHE_PATTERN`) whose run is no longer alive are removed; the caller holds the lock.
    """
    for entry in sorted(out_root.iterdir()):
        link = TEMPORARY_LINK_PATTERN.match(entry.name)
        if link and entry.is_symlink():
            if not process_running(int(link.group(1))):
                entry.unlink()
            continue
        match = STAGING_PATTERN.match(entry.name) or LEGACY_CACHE_PATTERN.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(match.group(1))
        if not _made_by_runner(entry, pid):
            continue
        if pid == os.getpid() or process_running(pid):
            log(f"left {entry.name} alone: the process that made it (pid {pid}) is running")
            continue
        shutil.rmtree(entry)
        log(f"removed {entry.name}, the unfinished folder of an interrupted run (pid {pid})")


def private_runs_root() -> Path:
    """Where runs keep their working data: ``$XDG_CACHE_HOME/clc/runs``, by default ``~/.cache/clc/runs``.

    Each run works in its own folder there (mode 700): the run cache with the cleaned data (real
    customer ids), the executing notebooks and their logs. Only the published pages, notebooks and
    logs, pseudonymised and with local paths removed, reach the reports folder.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base).expanduser() if base and Path(base).expanduser().is_absolute() else Path.home() / ".cache"
    return root / "clc" / "runs"


def private_run_folder(out_root: Path, log: Callable[[str], None]) -> Path:
    """A new private working folder for this run (mode 700); leftovers of dead runs are removed first.

    Raises
    ------
    ConfigError
        The private folder would be inside the reports folder, or others may write to it.
    """
    root = private_runs_root()
    if inside(root.resolve(), out_root.resolve()):
        raise ConfigError(f"The working folder of report runs, {root}, is inside the reports folder {out_root}, "
                          "which may be served to readers; set XDG_CACHE_HOME to a folder outside it.")
    with writes_to(root, "this run's private working folder", advice=PRIVATE_SPACE_ADVICE):
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        status = root.stat()
        if status.st_uid != os.getuid():
            raise ConfigError(f"{root} belongs to another user; set XDG_CACHE_HOME to a folder of your own.")
        if status.st_mode & 0o077:
            root.chmod(0o700)
        for entry in sorted(root.iterdir()):
            match = PRIVATE_FOLDER_PATTERN.match(entry.name)
            if not match or entry.is_symlink() or not entry.is_dir():
                continue
            owner = read_recorded(entry / PRIVATE_OWNER_FILE)
            pid = int(match.group(1))
            if owner.get("pid") != pid or owner.get("host") != socket.gethostname() or process_running(pid):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            log(f"removed {entry.name}, the working folder of an interrupted run (pid {pid})")
        folder = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root))
        descriptor = os.open(folder / PRIVATE_OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"}, handle)
    return folder


#: What ran out, by the errno of a failed write.
WRITE_ERROR_REASONS: dict[int, str] = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EMFILE: "too many open files",
}
_NO_SPACE_TEXT = ("no space left on device", "disk full", "not enough space")
PRIVATE_SPACE_ADVICE = ("Free some space, or set XDG_CACHE_HOME to a folder with room: the run cache takes about as "
                        "much as the transactions.")


def is_engine_write_error(error: BaseException) -> bool:
    """DuckDB's IOException (e.g. the disk filled while it wrote Parquet) is not an OSError."""
    return type(error).__name__ == "IOException" and type(error).__module__.lstrip("_").startswith("duckdb")


@contextlib.contextmanager
def writes_to(folder: Path, what: str, *, advice: str | None = None) -> Iterator[None]:
    """Turn a failed write (full or read-only disk, no permission) into an :class:`OutputFolderError`."""
    try:
        yield
    except OSError as error:
        raise write_error(folder, what, error, advice) from error
    except Exception as error:
        if is_engine_write_error(error):
            raise write_error(folder, what, error, advice) from error
        raise


def write_error(folder: Path, what: str, error: BaseException, advice: str | None) -> OutputFolderError:
    """The :class:`OutputFolderError` for a failed write of ``what`` in ``folder``, naming the reason."""
    reason = WRITE_ERROR_REASONS.get(getattr(error, "errno", None) or 0)
    if reason is None:
        text = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = WRITE_ERROR_REASONS[errno.ENOSPC] if any(t in text.lower() for t in _NO_SPACE_TEXT) else text
    return OutputFolderError(
        f"Cannot write {what} in {folder}: {reason}. Nothing was published: earlier runs and the 'latest' "
        "links are unchanged, and this run's temporary files were removed. "
        + (advice or "Free some space or fix the folder's permissions, or give the run another folder with --out."))
