"""Run with ``python -I markers.py SITE``: prints the interpreter's marker environment
and wheel tags as JSON, using the packaging library found in SITE (the one lockbuild
itself runs with)."""

from __future__ import annotations

import json
import sys


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    from packaging.markers import default_environment
    from packaging.tags import sys_tags

    print(json.dumps({"env": default_environment(), "tags": [str(t) for t in sys_tags()]}))


if __name__ == "__main__":
    main()
