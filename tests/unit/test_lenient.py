"""lenient: the malformed specifiers real releases publish, read as pip and uv read them
(uv's repairs; pip ignores a Requires-Python it cannot parse), and what stays invalid."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from lockbuild import lenient
from lockbuild.dists.metadata import parse_metadata
from lockbuild.errors import InvalidMetadataError
from lockbuild.target import current

pytestmark = pytest.mark.unit

# (published Requires-Python, the specifier read, how: "" valid, "uv" repaired, "pip" ignored)
REQUIRES_PYTHON = [
    (">=3.6", ">=3.6", ""),
    (">=3.6.*", ">=3.6", "uv"),  # pyhiveapi 0.5.14
    ("<3.4.*", "<3.4", "uv"),
    (">= '2.7'", ">=2.7", "uv"),
    ('>="3.6"', ">=3.6", "uv"),
    (">=3.6'", ">=3.6", "uv"),
    # packaging itself takes a trailing comma (so pip does)
    (">=3.6,", ">=3.6", ""),
    (">=2.7, !=3.0.*, !=3.1.*,", ">=2.7,!=3.0.*,!=3.1.*", ""),
    ("=>3.6", ">=3.6", "uv"),
    ("=<3.11", "<=3.11", "uv"),
    (">=2.7,!=3.0*,!=3.1*", ">=2.7,!=3.0.*,!=3.1.*", "uv"),
    (">=3.6<4", ">=3.6,<4", "uv"),
    ("!=~3.0,>=2.7", "!=3.0.*,>=2.7", "uv"),
    (">dev", ">0.0.0dev", "uv"),
    (">=3.0a1.0", ">=3.0a1", "uv"),
    ("~=3", None, "pip"),
    ("python3", None, "pip"),
    (">>3", None, "pip"),
]


@pytest.mark.parametrize(("given", "read", "how"), REQUIRES_PYTHON)
def test_requires_python_is_read_as_installers_read_it(
    given: str, read: str | None, how: str
) -> None:
    spec, note = lenient.requires_python(given)
    assert spec == (SpecifierSet(read) if read is not None else None)
    if how == "":
        assert note == ""
    elif how == "uv":
        assert note.startswith("read as '") and note.endswith("), as uv reads it")
    else:
        assert note == "ignored, as pip ignores an invalid Requires-Python"


# (published Requires-Dist, what it is read as; None: no installer reads it)
REQUIRES_DIST = [
    ("dep (>=7.2.0<8.0.0)", "dep (>=7.2.0,<8.0.0)"),
    ("dep >=3.6,", "dep >=3.6"),
    ("dep>=1.9.*", "dep>=1.9"),
    ("dep (!=~5.0,>=4.12)", "dep (!=5.0.*,>=4.12)"),
    ("dep>=1.3.0,<1.4.0',", "dep>=1.3.0,<1.4.0"),
    ('dep ">=1.19"; python_version >= "3.7"', 'dep >=1.19; python_version >= "3.7"'),
    ("dep =>1.0", "dep >=1.0"),
    ("dep >>= 1", None),
    ("dep ~=3", None),
    ("dep (>=1", None),
]


@pytest.mark.parametrize(("given", "read"), REQUIRES_DIST)
def test_requires_dist_is_repaired_as_uv_repairs_it_or_stays_invalid(
    given: str, read: str | None
) -> None:
    found = lenient.requirement(given)
    assert (found[0] if found is not None else None) == read


def _metadata(fields: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: p\nVersion: 1.0\n{fields}".encode()


def test_metadata_read_leniently_carries_one_note_per_field() -> None:
    meta = parse_metadata(
        _metadata("Requires-Python: >=3.6.*\nRequires-Dist: dep (>=1.0<2)\nRequires-Dist: ok\n"),
        "p-1.0-py3-none-any.whl",
    )
    assert meta.requires_python == SpecifierSet(">=3.6")
    assert meta.requires_dist == ("dep (>=1.0,<2)", "ok")
    assert meta.notes == (
        "p-1.0-py3-none-any.whl: invalid Requires-Python '>=3.6.*' read as '>=3.6' "
        "(a '.*' after an ordering operator dropped), as uv reads it",
        "p-1.0-py3-none-any.whl: invalid Requires-Dist 'dep (>=1.0<2)' read as "
        "'dep (>=1.0,<2)' (a missing comma added), as uv reads it",
    )


def test_valid_metadata_has_no_notes() -> None:
    meta = parse_metadata(_metadata("Requires-Python: >=3.8\nRequires-Dist: dep>=1\n"), "p")
    assert meta.notes == ()


def test_what_no_installer_reads_is_still_invalid() -> None:
    with pytest.raises(InvalidMetadataError, match="invalid Requires-Dist 'dep ~=3'"):
        parse_metadata(_metadata("Requires-Dist: dep ~=3\n"), "p")


def test_a_requires_python_is_parsed_once_and_shared() -> None:
    first, _ = lenient.requires_python(">=3.8, <4")
    again, _ = lenient.requires_python(">=3.8, <4")
    assert first is not None and first is again
    assert lenient.requires_python(">=3.9")[0] is not first


@pytest.mark.parametrize(
    ("text", "allowed"),
    [(">=3.8", True), ("<3", False), (">=3.8,<3.9", None), ("!=3.*", False)],
)
def test_the_target_answers_each_specifier_as_contains_does(
    text: str, allowed: bool | None
) -> None:
    """Answers are kept by the specifier's identity: equal specifiers that are other
    objects, and other specifiers, are each answered as ``contains`` answers them."""
    target = current()
    shared = SpecifierSet(text)
    expected = shared.contains(target.python_version, prereleases=True)
    if allowed is not None:
        assert expected is allowed
    assert target.allows_python(shared) is expected
    assert target.allows_python(shared) is expected
    assert target.allows_python(SpecifierSet(text)) is expected
    assert target.allows_python(SpecifierSet(">=3")) is True
    assert target.allows_python(None) is True
