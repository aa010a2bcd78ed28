"""Where uv is: the one place lockbuild looks for it (to fill hook and build
environments, and for ``sync --installer uv``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path


def uv_commands(*, path_first: bool = False, module: bool = False) -> list[tuple[str, ...]]:
    """The ways to run uv found here, in order: the uv beside lockbuild's interpreter (the
    one installed with it), the one on PATH, and (``module``) ``python -m uv`` when the uv
    package is importable. ``path_first`` prefers PATH's, the user's own uv."""
    beside = Path(sys.executable).with_name("uv.exe" if os.name == "nt" else "uv")
    found = [str(beside)] if beside.is_file() else []
    on_path = shutil.which("uv")
    if on_path and on_path not in found:
        found.insert(0 if path_first else len(found), on_path)
    commands: list[tuple[str, ...]] = [(path,) for path in found]
    if module and importlib.util.find_spec("uv") is not None:
        commands.append((sys.executable, "-m", "uv"))
    return commands


def uv_binary() -> str | None:
    """The uv executable lockbuild uses itself (beside it, else on PATH), or None."""
    commands = uv_commands()
    return commands[0][0] if commands else None
