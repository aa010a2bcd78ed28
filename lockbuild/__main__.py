"""``python -m lockbuild``."""

from .cli import run

run()
