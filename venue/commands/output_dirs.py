"""Where a command writes (a folder, a file), checked before the command does any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["output_dir_problem", "parent_folder_problem"]


def output_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the folder a command writes into, or None when it can.

    ``path`` is either a directory the command can write into, or missing with its
    parent such a directory (the command makes the folder, not its parents: a mistyped
    parent is refused, not created). An existing directory's content is the command's
    business (``demo --out`` writes over its own folders, ``serve --publish`` adds to
    them). The check leaves nothing behind: it creates and removes one temporary file.
    """
    target = path
    try:
        if path.exists():
            if not path.is_dir():
                return f"expected a directory, got the file {path}"
        else:
            target = path.parent
            if not target.exists():
                return f"expected an existing parent folder for {path}, {target} does not exist"
            if not target.is_dir():
                return f"expected a directory, got the file {target}"
        fd, probe = tempfile.mkstemp(prefix=".sealbatch-write-check-", dir=target)
    except OSError as exc:
        return f"cannot write into {target}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None


def parent_folder_problem(path: Path, *, makes_parents: bool) -> str | None:
    """Why the folder ``path`` goes into cannot take it, or None when it can.

    The folder must be a directory this process can create a file in: the check creates
    and removes one temporary file there, as :func:`output_dir_problem` does
    (``os.access`` alone says yes to root on a folder that takes no file, such as
    ``/sys``, and the write failed only after minutes of proving). What ``path`` itself
    is (a folder, a file) is the caller's check.

    Args:
        path: what the command writes: a file, or a folder it makes.
        makes_parents: the command makes the missing folders above ``path``
            (``lab run --out``): the nearest that exists is the one checked. Otherwise
            (``prove -o``) ``path``'s parent must exist already: a mistyped folder is
            refused, not created.
    """
    folder = path.parent
    if makes_parents:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return f"expected a directory, got the file {folder}"
    elif not folder.is_dir():
        return f"expected an existing folder for {path}, {folder} is not one"
    try:
        fd, probe = tempfile.mkstemp(prefix=".sealbatch-write-check-", dir=folder)
    except OSError as exc:
        return f"cannot write into {folder}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None
