"""The one writer for every file the package writes: fits, posteriors, mixture fits,
coverage laws, plans, figures and exports.

Why one writer: a file the package writes is either the old file or the complete new one,
never half of each, and it behaves the same whichever command wrote it.

- [`check_writable`][] runs *before* the long work (a fit, a sampler): a missing folder, a
  read-only folder, a directory or a device in place of the file is a one-line
  `InputError` naming the option (`--out`, `--plot`), not a traceback after an hour.
- Writes go to a temporary file in the destination's folder, then `os.replace` it: a
  reader, or a kill at any moment, sees the old file or the new one. Temporary files are
  named `.NAME.scalinglaws-tmp.PID.XXXX`, so a later write to NAME removes leftovers whose
  process is dead (after a SIGKILL or a power cut), and every failure path removes its own.
- A symlink is written *through*: its target is replaced and the link stays a link.
- The mode of an existing file is kept; a new file gets `0o666 & ~umask` (0644 under the
  usual umask 022) rather than the 0600 of `tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = ["check_writable", "open_for_writing", "save_figure", "write_bytes", "write_text"]

_TMP_MARK = ".scalinglaws-tmp."


def check_writable(path: str | os.PathLike, option: str = "--out", *, figure: bool = False) -> Path:
    """Check, before any long work, that `path` can be written; return the real destination.

    A symlink is followed to its target. The destination must not be a directory or a
    device, its folder must exist, and a probe file created there (the real test, which
    also holds for root and for read-only file systems, where permission bits say little)
    must succeed. With `figure=True` the file extension must be a format matplotlib writes.

    **Arguments:** `path`: the file to write; `option`: how errors name it (`"--out"`,
    `"--plot"`, `"path="`).

    **Returns:** the resolved destination (a `Path`).

    **Raises:** `InputError`, one line naming `option`.
    """
    target = _destination(path, option)
    folder = target.parent
    if not folder.exists():
        raise InputError(f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist; create it first.")
    if not folder.is_dir():
        raise InputError(f"{option} {str(path)!r}: {str(folder)!r} is not a folder.")
    if figure:
        _figure_format(target, option, path)
    fd, tmp = _create_temp(target, option, path)
    os.close(fd)
    os.unlink(tmp)
    return target


@contextlib.contextmanager
def open_for_writing(
    path: str | os.PathLike, option: str = "--out", *, binary: bool = False
) -> Iterator[IO[Any]]:
    """Context manager: a file handle whose contents replace `path` atomically on success.

    ```python
    with open_for_writing("plan.csv", "--out") as handle:
        frame.to_csv(handle, index=False)
    ```

    On any exception (or a kill) the destination is untouched and the temporary file is
    removed (or, after a kill, removed by the next write to the same name).
    """
    target = _destination(path, option)
    if not target.parent.is_dir():
        raise InputError(
            f"{option} {str(path)!r}: the folder {str(target.parent)!r} does not exist; create it first."
        )
    _remove_stale(target)
    mode = _final_mode(target)
    fd, tmp = _create_temp(target, option, path)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and not isinstance(error, InputError):
            raise InputError(f"{option} {str(path)!r}: cannot write ({error.strerror or error}).") from None
        raise


def write_text(path: str | os.PathLike, text: str, option: str = "--out") -> None:
    """Write `text` (UTF-8) to `path` atomically (see the module docstring)."""
    with open_for_writing(path, option) as handle:
        handle.write(text)


def write_bytes(path: str | os.PathLike, data: bytes, option: str = "--out") -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    with open_for_writing(path, option, binary=True) as handle:
        handle.write(data)


def save_figure(figure: Any, path: str | os.PathLike, option: str = "--plot", **savefig_kwargs: Any) -> None:
    """`figure.savefig` through the one writer: atomic, in the format of the file extension.

    **Arguments:** `figure`: a matplotlib `Figure`; `path`: e.g. `"frontier.png"`;
    `option`: how errors name the destination; `savefig_kwargs`: passed on (e.g. `dpi`).
    """
    target = _destination(path, option)
    savefig_kwargs.setdefault("format", _figure_format(target, option, path))
    with open_for_writing(path, option, binary=True) as handle:
        figure.savefig(handle, **savefig_kwargs)


# ---- internals ----------------------------------------------------------------------


def _destination(path: str | os.PathLike, option: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"{option}: expected a file path, got {path!r}.")
    # Follow symlinks (also chains, also a dangling link) so the link's target is written
    # and the link itself stays a link.
    target = Path(os.path.realpath(os.fspath(path)))
    try:
        info = target.stat()
    except FileNotFoundError:
        return target
    except OSError as error:
        raise InputError(f"{option} {str(path)!r}: cannot inspect the file ({error.strerror}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{option} {str(path)!r}: is a folder; give a file name inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{option} {str(path)!r}: is not a regular file (a device, pipe or socket); give a file path."
        )
    return target


def _create_temp(target: Path, option: str, path: str | os.PathLike) -> tuple[int, str]:
    name = f".{target.name}{_TMP_MARK}{os.getpid()}.{secrets.token_hex(4)}"
    tmp = str(target.parent / name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise InputError(
                f"{option} {str(path)!r}: the folder {str(target.parent)!r} is not writable "
                f"({error.strerror}); choose another folder."
            ) from None
        raise InputError(f"{option} {str(path)!r}: cannot write there ({error.strerror}).") from None
    return fd, tmp


def _final_mode(target: Path) -> int:
    """An existing file keeps its mode; a new one gets what `open()` would give it."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # Linux reports the umask without changing it; elsewhere set-and-restore (the only
    # portable way to read it).
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _remove_stale(target: Path) -> None:
    """Remove leftover temporary files of `target` whose writing process is dead."""
    prefix = f".{target.name}{_TMP_MARK}"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(target.parent / name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def _figure_format(target: Path, option: str, path: str | os.PathLike) -> str:
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    suffix = target.suffix.lower().lstrip(".") or Path(os.fspath(path)).suffix.lower().lstrip(".")
    if suffix not in supported:
        raise InputError(
            f"{option} {str(path)!r}: unknown figure format {suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(supported))} (e.g. figure.png)."
        )
    return suffix
