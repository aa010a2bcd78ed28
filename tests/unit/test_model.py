"""The kernel value types: every kind of requirement edge, and requirements read into them."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from lockbuild.model import Kind, Req, make_key

pytestmark = pytest.mark.unit


def test_kind_values_are_the_texts_the_graph_and_outputs_use() -> None:
    assert {k.value for k in Kind} == {
        "input",
        "project",
        "editable",
        "runtime",
        "build",
        "constraint",
        "override",
        "extra",
    }
    assert Kind.BUILD == "build" and f"{Kind.RUNTIME}" == "runtime"
    assert Kind("override") is Kind.OVERRIDE
    with pytest.raises(ValueError):
        Kind("runtime-ish")


URL = "https://example.invalid/foo-1.tar.gz"


@pytest.mark.parametrize(
    ("text", "name", "extras", "specifier", "req_text", "url"),
    [
        ("Foo_Bar>=1", "foo-bar", frozenset(), ">=1", "Foo_Bar>=1", None),
        ("foo[B,a]==2; python_version>'3'", "foo", {"a", "b"}, "==2", "foo[B,a]==2", None),
        (f"foo @ {URL}", "foo", frozenset(), "", f"foo @ {URL}", URL),
    ],
)
def test_req_from_requirement(
    text: str,
    name: str,
    extras: frozenset[str],
    specifier: str,
    req_text: str,
    url: str | None,
) -> None:
    req = Req.from_requirement(Requirement(text), Kind.INPUT, origin="in line 1")
    assert (req.name, req.extras, str(req.specifier), req.kind, req.text, req.url) == (
        name,
        extras,
        specifier,
        Kind.INPUT,
        req_text,
        url,
    )
    assert req.key == make_key(name, extras)


@pytest.mark.parametrize(
    ("name", "extras", "key"),
    [("foo", (), "foo"), ("foo", ("b", "a"), "foo[a,b]"), ("foo", ("a",), "foo[a]")],
)
def test_make_key(name: str, extras: tuple[str, ...], key: str) -> None:
    assert make_key(name, extras) == key
