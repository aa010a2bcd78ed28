"""``python -m lockbuild``."""

from .cli import main

main()
