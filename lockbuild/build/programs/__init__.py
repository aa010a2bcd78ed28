"""Programs that lockbuild runs in another interpreter, as files (``python FILE``), so
that they are linted and type-checked like the rest: they import only the standard
library (and, for ``markers``, the packaging put on the path given to it).

``path(name)`` is the file of one of them."""

from __future__ import annotations

from pathlib import Path


def path(name: str) -> Path:
    """The file of the program ``name`` (``hooks``, ``markers`` or ``environment``)."""
    return Path(__file__).with_name(f"{name}.py")
