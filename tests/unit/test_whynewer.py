"""The held-back line of a runtime edge: read back as written, and which compile prints;
the requirements on a pin, and the newest release above it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.index.listing import Listing, make_dist_file
from lockbuild.model import Candidate, Kind, Req
from lockbuild.resolve.heldback import HeldBack
from lockbuild.resolve.provider import Release
from lockbuild.resolve.whynewer import _Edges, _newest_usable, from_line, printed
from lockbuild.spec import IndexOptions
from lockbuild.target import current

pytestmark = pytest.mark.unit

LIB = "lib 1.0 (newest 3.0): app 1.0 requires lib<2"


@pytest.mark.parametrize(
    ("line", "parsed", "major"),
    [
        (LIB, HeldBack("lib", "1.0", "3.0", ("app 1.0 requires lib<2",)), True),
        ("a 1.0 (newest 1.5): x; y", HeldBack("a", "1.0", "1.5", ("x", "y")), False),
        (
            "a 1.0 (newest 2.0): kept at the existing lock's pin "
            "(to move it: lockbuild compile -P a)",
            HeldBack(
                "a",
                "1.0",
                "2.0",
                ("kept at the existing lock's pin (to move it: lockbuild compile -P a)",),
            ),
            False,
        ),
        ("a 1.0 newest 1.5: x", None, False),
        ("", None, False),
    ],
)
def test_line_round_trip(line: str, parsed: HeldBack | None, major: bool) -> None:
    assert from_line(line) == parsed
    if parsed is not None:
        assert parsed.line() == line
        assert printed(parsed) is major


def _req(text: str, kind: Kind = Kind.RUNTIME) -> Req:
    return Req.from_requirement(Requirement(text), kind)


def test_requirements_on_a_project_and_its_extras() -> None:
    """A pin's requirements: those on its name and on ``name[extras]``, in the order the
    resolution lists them, without the edges of an extra onto its base, then the
    constraints; never those of a project whose name only begins the same."""
    app = Candidate(canonicalize_name("app"), Version("1"))
    extra = Candidate(canonicalize_name("a"), Version("2"), frozenset({"x"}))
    on_a, on_ax, on_ab = _req("a>=1"), _req("a[x]<3"), _req("ab")
    to_base = _req("a==2", Kind.EXTRA)
    constraint = _req("a!=1.5", Kind.CONSTRAINT)
    information: dict[str, list[tuple[Req, Candidate | None]]] = {
        "ab": [(on_ab, app)],
        "a": [(on_a, None), (to_base, extra)],
        "b": [(_req("b"), app)],
        "a[x]": [(on_ax, app)],
        "ab[y]": [(_req("ab[y]"), app)],
    }
    provider = SimpleNamespace(constraints={"a": [constraint]})
    edges = _Edges(information)
    found = edges.on(provider, "a")  # type: ignore[arg-type]
    assert found == [(on_a, None), (on_ax, app), (constraint, None)]
    assert edges.on(provider, "ab") == [(on_ab, app), (information["ab[y]"][0][0], app)]  # type: ignore[arg-type]
    assert edges.on(provider, "c") == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("versions", "specifier", "pin", "pre", "expected"),
    [
        (["3.0", "2.0", "1.0"], "", "1.0", False, "3.0"),
        (["3.0", "2.0", "1.0"], "<3", "1.0", False, "2.0"),
        (["3.0", "2.0", "1.0"], "", "3.0", False, None),
        (["3.0", "2.0", "1.0"], "!=3.0,!=2.0", "1.0", False, None),
        (["3.0b1", "2.0", "1.0"], "", "1.0", False, "2.0"),  # finals admitted: no betas
        (["3.0b1", "2.0", "1.0"], "", "1.0", True, "3.0b1"),
        (["3.0b1", "2.0", "1.0"], "", "2.0", False, None),
        (["3.0b1", "2.0b1", "1.0b1"], "", "1.0b1", False, "3.0b1"),  # only pre-releases
        (["3.0b1", "2.0", "1.0"], ">=3.0b1", "2.0", False, "3.0b1"),  # asked for by name
        (["3.0", "2.0", "1.0"], "", "1.5", False, "3.0"),
        (["1.0"], "", "1.0", False, None),
        ([], "", "1.0", False, None),
    ],
)
def test_newest_usable_release_above_a_pin(
    versions: list[str], specifier: str, pin: str, pre: bool, expected: str | None
) -> None:
    """The newest release above the pin that the specifier admits under pip's rule for
    pre-releases (as ``SpecifierSet.filter`` of every version says) and the target can
    use; None when the pin is already the newest."""
    releases = [
        Release(
            Version(v),
            (
                Listing(
                    f"lib-{v}-py3-none-any.whl",
                    canonicalize_name("lib"),
                    Version(v),
                    v,
                    None,
                    lambda v=v: make_dist_file(f"lib-{v}-py3-none-any.whl", f"mem:lib/{v}"),
                ),
            ),
        )
        for v in versions
    ]
    repository = SimpleNamespace(releases=lambda name: releases)
    provider = SimpleNamespace(
        repository=repository, target=current(), options=IndexOptions(pre=pre)
    )
    spec = SpecifierSet(specifier)
    found = _newest_usable(provider, canonicalize_name("lib"), spec, Version(pin))  # type: ignore[arg-type]
    assert (None if found is None else str(found.version)) == expected
    # As every version filtered at once would have it.
    allowed = set(spec.filter([Version(v) for v in versions], prereleases=True if pre else None))
    newer = [v for v in versions if Version(v) > Version(pin) and Version(v) in allowed]
    assert (newer[0] if newer else None) == expected
