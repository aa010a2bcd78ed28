"""--build-deps-as-of-release through pip needs pip's --uploaded-prior-to: which pip
versions are refused, and how, as a table."""

from __future__ import annotations

import pytest
from packaging.version import Version

from lockbuild.build import environments
from lockbuild.errors import UsageError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("version", "refused"),
    [
        (None, True),
        ("23.2.1", True),
        ("25.3", True),
        ("26.0b1", True),
        ("26.0", False),
        ("26.3", False),
    ],
)
def test_cutoff_needs_a_pip_with_uploaded_prior_to(
    monkeypatch: pytest.MonkeyPatch, version: str | None, refused: bool
) -> None:
    monkeypatch.setenv("LOCKBUILD_HOOK_INSTALLER", "pip")
    monkeypatch.setattr(environments, "_pip", lambda: Version(version) if version else None)
    if not refused:
        environments.check_cutoff_support()
        return
    with pytest.raises(UsageError) as info:
        environments.check_cutoff_support()
    have = f"pip {version}" if version else "no pip"
    assert f"filled by pip here ({have}), which has no --uploaded-prior-to" in str(info.value)
