"""The history folder is private to its user: folders 0700, files 0600 (POSIX).

Owns the modes and how they are applied, whatever the process umask says:

- :func:`make_private_dirs` creates folders with mode 0700 (then ``chmod`` to exactly that);
- :func:`create_private_file` creates an empty file 0600 before another library opens it.
  SQLite gives a new ``-wal``/``-shm``/``-journal`` file the mode of its database file, so a
  0600 ``index.sqlite`` made here keeps the files SQLite creates later (lazily) 0600 too;
- :func:`make_private_once` tightens a history folder made before this rule (or by another
  tool) once per process: the folder and what the history owns in it (the caller says
  which names), folders 0700 and files 0600, and says so once with a :class:`UserWarning`
  naming the folder. Modes only lose group/other bits.

Files written with :func:`tempfile.mkstemp` (the history's atomic writes) are already 0600.
On Windows (no POSIX modes) every function only creates what it must.

Core module: standard library only.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import threading
import warnings
from collections.abc import Callable

from ._messages import user_stacklevel

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "make_private_dirs",
    "make_private_once",
    "private_append",
    "tighten_files",
    "tighten_tree",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
POSIX = os.name == "posix"

_checked: set[str] = set()
_checked_lock = threading.Lock()


def make_private_dirs(path: pathlib.Path, root: pathlib.Path, *, exist_ok: bool = True) -> None:
    """Create `path` (`root` or inside it) and its missing parents; `root` and below are 0700.

    Parents of `root` that are missing are created as usual (the process umask): only the
    history folder and what is inside it are private. ``exist_ok=False``: `path` itself must
    be new (FileExistsError otherwise).
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    folders = [root]
    for part in path.relative_to(root).parts:
        folders.append(folders[-1] / part)
    for folder in folders:
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if folder == path and not exist_ok:
                raise
            continue
        _set_mode(folder, PRIVATE_DIR_MODE)


def create_private_file(path: pathlib.Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist; an existing one is tightened."""
    try:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, PRIVATE_FILE_MODE)
    except FileExistsError:
        _tighten(path)
        return
    try:
        if POSIX:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def private_append(path: pathlib.Path) -> int:
    """A file descriptor appending to `path`, created 0600 when missing (caller closes it)."""
    flags = os.O_CREAT | os.O_APPEND | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    if POSIX and stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        with contextlib.suppress(OSError):
            os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def tighten_files(*paths: pathlib.Path) -> None:
    """Take group/other access away from each existing path of `paths`."""
    for path in paths:
        _tighten(path)


def tighten_tree(root: pathlib.Path) -> list[pathlib.Path]:
    """Take group/other access away from `root` and everything below it (symlinks untouched).

    Returns
    -------
    list of Path
        The folders and files whose mode changed.
    """
    if not POSIX or not root.is_dir():
        return []
    changed = [root] if _tighten(root) else []
    for top, dirs, files in os.walk(root):
        for name in dirs:
            folder = pathlib.Path(top, name)
            if not folder.is_symlink() and _tighten(folder):
                changed.append(folder)
        for name in files:
            file = pathlib.Path(top, name)
            if not file.is_symlink() and _tighten(file):
                changed.append(file)
    return changed


def make_private_once(
    root: pathlib.Path, owned: Callable[[str], bool], what: str = "history folder"
) -> None:
    """Tighten an existing `root` the first time this process uses it; warn when it had to.

    Only what the history owns is touched: `root` itself and the entries of `root` whose
    name `owned` accepts (folders with everything in them). Other files a user keeps in
    that folder keep their modes. A folder that does not exist yet is not recorded: it is
    created private when first used.
    """
    if not POSIX:
        return
    key = os.path.abspath(root)
    with _checked_lock:
        if key in _checked or not root.is_dir():
            return
        _checked.add(key)
        changed = _tighten_owned(root, owned)
    if changed:
        warnings.warn(
            f"the {what} {root} was readable by other users ({len(changed)} folders and "
            "files, the prompt index included); made it private: folders 0700, files 0600",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def _tighten_owned(root: pathlib.Path, owned: Callable[[str], bool]) -> list[pathlib.Path]:
    changed = [root] if _tighten(root) else []
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        for entry in entries:
            if not owned(entry.name) or entry.is_symlink():
                continue
            path = pathlib.Path(entry.path)
            if entry.is_dir():
                changed += tighten_tree(path)
            elif _tighten(path):
                changed.append(path)
    return changed


def _tighten(path: pathlib.Path) -> bool:
    """Take group/other access away from `path`; True when its mode changed.

    A path this user may not change (another owner) is left as it is.
    """
    if not POSIX:
        return False
    try:
        current = stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)
    except OSError:
        return False
    if not current & 0o077:
        return False
    try:
        os.chmod(path, current & ~0o077)
    except OSError:
        return False
    return True


def _set_mode(path: pathlib.Path, mode: int) -> None:
    if POSIX:
        with contextlib.suppress(OSError):
            os.chmod(path, mode)
