"""The folder a command writes into, checked before the command does any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["output_dir_problem"]


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
