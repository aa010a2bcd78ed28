"""``python -m lockbuild``."""

from lockbuild.cli.main import run

run()
