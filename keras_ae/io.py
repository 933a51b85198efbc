"""Reading and writing the package's files: safely, atomically, one writer at a time.

- `write_json` is the one JSON writer: strict JSON (NumPy numbers become
  Python numbers, NaN and infinities `null`), never overwriting a file
  unless asked. `read_json_file` names the file and what is wrong with it.
- `write_atomically` writes any file whole or not at all: into a temporary
  directory beside its target, then renamed (or linked, when the target
  must not be overwritten) into place. A reader never sees half a file,
  and a kill leaves the old file (or none), never a torn one.
- Temporaries (`temporary_directory`) carry a marker file that only
  keras_ae writes, with the host and process id of their writer;
  `remove_stale_temporaries` removes only what it can prove is a keras_ae
  temporary whose writer is gone. A directory without the marker is never
  removed, whatever its name.
- `writer_lock(directory)` is an advisory lock (`fcntl.flock` on the
  directory itself): one writer per run and per served model at a time.
  A second writer is refused at once (`LockedError`), naming the holder's
  process; the kernel releases the lock of a process that dies, so a
  killed writer never leaves a stale lock behind.
- `read_history` and `repair_history` read and mend the `CSVLogger`
  history of a run.

Files are created with the user's umask (0644 and 0755 under umask 022),
as any other program's, so that a server running as another user can read
them.
"""

import contextlib
import csv
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time

import numpy as np

try:  # POSIX only; elsewhere writers are not locked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = [
    "LockedError", "TEMP_MARKER", "TEMP_PREFIX", "file_sha256", "jsonable",
    "place_atomically", "read_history", "read_json_file",
    "remove_stale_temporaries", "repair_history", "temporary_directory",
    "write_atomically", "write_json", "writer_lock",
]

# Temporaries: `<prefix><host>-<pid>-<random>/`, holding the marker file.
TEMP_PREFIX = ".keras_ae-tmp-"
TEMP_MARKER = ".keras_ae-temporary.json"
_TEMP_NAME = re.compile(
    rf"{re.escape(TEMP_PREFIX)}(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+")


# --- Temporaries ---------------------------------------------------------------


def temporary_directory(directory):
    """Creates a marked temporary directory of this process in `directory`.

    Args:
        directory: str, an existing directory.

    Returns:
        The path of the new directory. It holds `TEMP_MARKER`, which names
        its host and process: what proves, later, that keras_ae made it.

    Example:

    >>> temp = temporary_directory("saved_models/run")
    >>> os.path.basename(temp).startswith(TEMP_PREFIX)
    True
    """
    host, pid = socket.gethostname(), os.getpid()
    path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{host}-{pid}-",
                            dir=directory)
    with open(os.path.join(path, TEMP_MARKER), "w", encoding="utf-8") as f:
        json.dump({"keras_ae_temporary": True, "host": host, "pid": pid}, f)
    return path


def remove_stale_temporaries(directory):
    """Removes the temporaries of keras_ae writers that were killed; returns them.

    An entry is removed only when all of these hold: its name is a
    temporary's (`TEMP_PREFIX<host>-<pid>-...`), it is a real directory
    (not a link), it holds the marker file that `temporary_directory`
    writes, the marker names the same host and process as the name, that
    host is this one, and that process no longer runs. Anything else, a
    user's directory named like a temporary included, is never touched.

    Args:
        directory: str, the directory to clean.

    Returns:
        The list of removed paths.
    """
    if os.name != "posix" or not os.path.isdir(directory):
        return []
    host = socket.gethostname()
    removed = []
    for entry in sorted(os.listdir(directory)):
        match = _TEMP_NAME.fullmatch(entry)
        path = os.path.join(directory, entry)
        if (not match or match["host"] != host or os.path.islink(path)
                or not os.path.isdir(path)
                or _is_running(int(match["pid"]))):
            continue
        marker = _read_marker(os.path.join(path, TEMP_MARKER))
        if marker != {"keras_ae_temporary": True, "host": host,
                      "pid": int(match["pid"])}:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _read_marker(path):
    try:
        if os.path.islink(path) or os.path.getsize(path) > 4096:
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


# --- Atomic writes ---------------------------------------------------------------


def write_atomically(path, data, overwrite=False):
    """Writes `data` to `path` whole or not at all.

    The bytes go to a file in a marked temporary directory beside `path`,
    which is then renamed over `path` (`overwrite=True`) or linked to it
    (`overwrite=False`: an existing file is refused, atomically, even when
    another process writes it at the same moment). The file gets the mode
    of any new file under the user's umask (0644 under umask 022).

    Args:
        path: str, the file to write; its directory must exist.
        data: bytes or str (written as UTF-8).
        overwrite: bool, replace an existing file.

    Returns:
        `path`.

    Raises:
        FileExistsError: `path` exists and `overwrite` is `False`.

    Example:

    >>> write_atomically("saved_models/models.config", text, overwrite=True)
    'saved_models/models.config'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    if not overwrite and os.path.lexists(path):
        raise _exists(path)
    temp_dir = temporary_directory(directory)
    try:
        temp_path = os.path.join(temp_dir, os.path.basename(path))
        with open(temp_path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        place_atomically(temp_path, path, overwrite)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return path


def place_atomically(source, path, overwrite=False):
    """Moves the finished file `source` to `path` in one step.

    A rename when `overwrite`; otherwise a hard link (which fails if `path`
    exists) and the removal of `source`. Both must be on one filesystem.
    """
    if overwrite:
        os.replace(source, path)
        return path
    try:
        os.link(source, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV,
                               errno.EMLINK):
            raise
        # A filesystem without hard links: check, then rename.
        if os.path.lexists(path):
            raise _exists(path) from None
        os.replace(source, path)
        return path
    os.remove(source)
    return path


def _exists(path):
    return FileExistsError(
        f"{path!r} already exists; it is never overwritten.")


def file_sha256(path):
    """The SHA-256 of a file, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def jsonable(value):
    """`value` with NumPy numbers, tuples and non-finite floats made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def write_json(path, data, overwrite=False):
    """Writes `data` as indented strict JSON to `path`, atomically.

    Args:
        path: str, the file to write.
        data: a JSON-ready value (see `jsonable`).
        overwrite: bool. `False` refuses an existing file
            (`FileExistsError`); `True` replaces it. Either way the file is
            written whole or not at all (`write_atomically`).

    Returns:
        `path`.
    """
    text = json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n"
    return write_atomically(path, text, overwrite=overwrite)


def read_json_file(name, path):
    """Reads a JSON object from `path`, naming the file and what is wrong.

    Args:
        name: str, what the file is (e.g. `"run_config.json"`), named in
            errors.
        path: str or path-like.

    Returns:
        The decoded dict.

    Raises:
        FileNotFoundError: nothing is at `path`.
        ValueError: the file is not valid UTF-8 JSON or not a JSON object.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"`{name}` is missing: nothing is at {path!r}.") from None
    except IsADirectoryError:
        raise ValueError(
            f"`{name}` must be a file. Received: {path!r}, a directory"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"`{name}` is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}. Received: file {path!r}") from None
    except UnicodeDecodeError:
        raise ValueError(
            f"`{name}` is not a text file (not UTF-8). Received: file "
            f"{path!r}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"`{name}` must hold a JSON object. Received: file {path!r} "
            f"holding a {type(data).__name__}")
    return data


# --- Training histories ------------------------------------------------------------


def _history_rows(csv_path):
    """`(header, [(epoch, row dict, line)], problem)` of a `CSVLogger` file.

    `header` is the list of column names, `None` when there is no whole
    header line; each row keeps its `line` as written.

    Reading stops at the first row that is not whole (a torn last line, a
    wrong number of fields, a value that is not a number); `problem` says
    what it was, or is `None`.
    """
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    if not lines:
        return None, [], None
    if not lines[0].endswith("\n"):
        return None, [], "its header line is incomplete"
    header = next(csv.reader([lines[0]]))
    if not header or header[0] != "epoch":
        return None, [], f"its header does not start with 'epoch' ({lines[0]!r})"
    rows = [(None, None, lines[0])]  # the header line, as written
    for number, line in enumerate(lines[1:], start=2):
        if not line.endswith("\n"):
            return header, rows, f"line {number} is incomplete ({line!r})"
        values = next(csv.reader([line]), [])
        if len(values) != len(header):
            return header, rows, (f"line {number} has {len(values)} fields, "
                                  f"not {len(header)}")
        try:
            row = {name: (int(v) if name == "epoch" else float(v))
                   for name, v in zip(header, values)}
        except ValueError:
            return header, rows, f"line {number} holds a value that is not a number"
        rows.append((row["epoch"], row, line))
    return header, rows, None


def _split_header(rows):
    """`(header line, epoch rows)` of `_history_rows`' rows."""
    if rows and rows[0][0] is None:
        return rows[0][2], rows[1:]
    return None, rows


def read_history(csv_path):
    """Reads a `CSVLogger` file into `{metric: [value per epoch]}`.

    When an epoch appears twice (a resumed run redid it), the last row wins.

    Raises:
        ValueError: a row is not whole, naming the file, the line and what
            to do.
    """
    csv_path = os.fspath(csv_path)
    header, rows, problem = _history_rows(csv_path)
    rows = _split_header(rows)[1]
    if problem:
        raise ValueError(
            f"The history {csv_path!r} is damaged: {problem}. Resume the run "
            "(--resume mends it from the backup), or start again with "
            "another --run-name.")
    by_epoch = {epoch: row for epoch, row, _ in rows}
    history = {}
    for epoch in sorted(by_epoch):
        for name in header:
            history.setdefault(name, []).append(by_epoch[epoch][name])
    return history


def repair_history(csv_path, epochs, dry_run=False):
    """Keeps the rows of the first `epochs` epochs of a history; returns what went.

    A resumed run trains again every epoch after the last one its backup
    committed: their rows, and a row torn by a kill, are dropped so that
    `CSVLogger` appends to whole rows. The rows of the committed epochs
    must all be there and whole. Nothing is written when nothing is
    dropped; otherwise the file is replaced atomically.

    Args:
        csv_path: str, a `CSVLogger` file (missing is fine when `epochs` is
            0).
        epochs: int >= 0, the number of committed epochs.
        dry_run: bool, only say what would be dropped (and raise if the
            history cannot be mended).

    Returns:
        A list of what is dropped (descriptions), empty when nothing is.

    Raises:
        ValueError: a committed epoch's row is missing or damaged, naming
            the file and what to do.
    """
    csv_path = os.fspath(csv_path)
    fix = "start again with another --run-name"
    if not os.path.exists(csv_path):
        if epochs:
            raise ValueError(
                f"The history {csv_path!r} is missing, but the backup "
                f"committed {epochs} epoch(s); {fix}.")
        return []
    header, rows, problem = _history_rows(csv_path)
    header_line, rows = _split_header(rows)
    present = {epoch for epoch, _, _ in rows}
    missing = [e + 1 for e in range(epochs) if e not in present]
    if missing:
        raise ValueError(
            f"The history {csv_path!r} is damaged "
            f"({problem or 'rows are missing'}) and lacks the rows of "
            f"epoch(s) {', '.join(map(str, missing))} that the backup "
            f"committed; {fix}.")
    kept = {}
    for epoch, _, line in rows:
        if epoch < epochs:
            kept[epoch] = line  # a redone epoch: the last row wins
    dropped = [f"the row of epoch {epoch + 1}" for epoch, _, _ in rows
               if epoch >= epochs]
    if len(kept) < len([epoch for epoch, _, _ in rows if epoch < epochs]):
        dropped.append("rows of epochs that were trained twice")
    if problem:
        dropped.append(problem)
    if not dropped or dry_run:
        return dropped
    if not kept:
        os.remove(csv_path)
    else:
        write_atomically(csv_path, header_line + "".join(
            kept[epoch] for epoch in sorted(kept)), overwrite=True)
    return dropped


# --- One writer at a time ------------------------------------------------------------


class LockedError(RuntimeError):
    """Raised when another process holds the writer lock of a directory."""


# (device, inode) -> [file descriptor, depth]: the locks this process holds,
# so that a writer that calls another (train calls export) is not refused
# by itself.
_HELD = {}


@contextlib.contextmanager
def writer_lock(directory, what="directory", wait=0.0):
    """Holds the writer lock of `directory` (a context manager).

    An advisory `fcntl.flock` on the directory itself: no lock file is
    written, and the kernel releases the lock when its process ends, however
    it ends. Re-entrant within a process.

    Args:
        directory: str, an existing directory.
        what: str, what the directory is, for the error (e.g. `"the run
            'quick'"`).
        wait: float >= 0, seconds to wait for the lock before refusing.

    Raises:
        LockedError: another process holds the lock; the message names it.

    Example:

    >>> with writer_lock("saved_models/quick", "the run 'quick'"):
    ...     ...  # nothing else writes this run meanwhile
    """
    if fcntl is None:
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    stat = os.fstat(descriptor)
    key = (stat.st_dev, stat.st_ino)
    if key in _HELD:
        os.close(descriptor)
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(descriptor)
                raise LockedError(
                    f"{what} ({os.fspath(directory)!r}) is being written by "
                    f"{_lock_holder(stat)}; one writer at a time. Wait for "
                    "it to end, or stop it; nothing was written.") from None
            time.sleep(0.1)
        except OSError:
            # A filesystem without locks (some network mounts): go on.
            break
    _HELD[key] = [descriptor, 1]
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if not _HELD[key][1]:
            del _HELD[key]
            os.close(descriptor)  # releases the lock


def _lock_holder(stat):
    """`process 1234 (python -m keras_ae train ...)`, read from /proc/locks."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return "another process"
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}"
    found = []
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        pid, where = fields[4], fields[5].rsplit(":", 1)
        if len(where) == 2 and where[1] == str(stat.st_ino):
            found.append((where[0] != device, pid))
    if not found:
        return "another process"
    pid = sorted(found)[0][1]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = ""
    command = " ".join(command.split())
    if len(command) > 120:
        command = command[:117] + "..."
    return f"process {pid}" + (f" ({command})" if command else "")
