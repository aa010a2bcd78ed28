"""Write the offline index the ABI demo resolves against: abicore 1.0 and 2.0 as wheels,
abiext as an sdist that build-requires abicore and records the version it was built with."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fixtures.indexgen import FixtureIndex, add_abi_scenario  # noqa: E402


def main(root: Path) -> None:
    index = FixtureIndex(root)
    add_abi_scenario(index)
    print(index.write())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
