"""The first requirement an installer's log says failed to build (what an as-of-release
failure names): a table of uv's and pip's wording."""

from __future__ import annotations

import pytest

from lockbuild.build.hookfail import failed_to_build

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("output", "pins", "expected"),
    [
        ("  × Failed to build `numpy==1.22.3`\n  ├─▶ ...", (), "numpy==1.22.3"),
        (
            "ERROR: Failed to build 'numpy' when getting requirements",
            ("numpy==1.22.3",),
            "numpy==1.22.3",
        ),
        (
            "ERROR: Failed building wheel for numpy\nFailed to build numpy\n",
            ("numpy==1.22.3",),
            "numpy==1.22.3",
        ),
        (
            "ERROR: Failed to build installable wheels for some pyproject.toml based "
            "projects (numpy)",
            (),
            "numpy",
        ),
        ("Downloading numpy-1.22.3.tar.gz\nFailed to build numpy", (), "numpy==1.22.3"),
        ("ERROR: No matching distribution found for numpy==9", (), None),
        ("", (), None),
    ],
)
def test_failed_to_build_reads_the_installers_log(
    output: str, pins: tuple[str, ...], expected: str | None
) -> None:
    assert failed_to_build(output, pins) == expected
