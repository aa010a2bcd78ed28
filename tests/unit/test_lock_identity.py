"""A lock's identity: the options that shape it, as the project declares them (inputs,
``[tool.lockbuild]``, command line; never pip's configuration), one fingerprint each so
that check names the option that differs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lockbuild.cli.options import (
    SHAPING,
    changed_options,
    declared_options,
    options_digest,
    shaping_values,
)
from lockbuild.indexopts import IndexOptions
from lockbuild.spec import CompileOptions, Spec
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit

TARGET = for_platform("3.11", ("manylinux_2_17_x86_64",))


def _options(root: Path, **changes: object) -> CompileOptions:
    base = CompileOptions(
        sources=(root / "requirements.in",),
        output_file=root / "requirements.txt",
        build_output_file=root / "requirements-build.txt",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _spec(root: Path, options: IndexOptions | None = None) -> Spec:
    return Spec((), (), options or IndexOptions(), (root / "requirements.in",))


@pytest.mark.parametrize(
    ("changes", "spec_options", "named"),
    [
        ({}, None, []),
        ({"generate_hashes": True}, None, ["--generate-hashes"]),
        ({"cli_index": IndexOptions(pre=True)}, None, ["--pre"]),
        ({}, IndexOptions(pre=True), ["--pre"]),
        (
            {"cli_index": IndexOptions(extra_index_urls=("http://x/simple",))},
            None,
            ["--extra-index-url"],
        ),
        ({"extras": ("a", "b")}, None, ["--extra"]),
        (
            {"build_hooks": False, "build_deps_for": "all"},
            None,
            ["--no-build-hooks", "--build-deps-for"],
        ),
        ({"cli_index": IndexOptions(strategy="first-index")}, None, ["--index-strategy"]),
        ({"build_constraints": ("setuptools<70",)}, None, ["build-constraints"]),
    ],
)
def test_the_option_that_differs_is_named(
    tmp_path: Path, changes: dict[str, object], spec_options: IndexOptions | None, named: list[str]
) -> None:
    recorded = options_digest(shaping_values(_options(tmp_path), _spec(tmp_path), TARGET))
    now = shaping_values(_options(tmp_path, **changes), _spec(tmp_path, spec_options), TARGET)
    assert changed_options(recorded, now) == named
    assert (options_digest(now) == recorded) is (named == [])


def test_every_shaping_option_has_a_value() -> None:
    values = shaping_values(_options(Path("/p")), _spec(Path("/p")), TARGET)
    assert [name for name, _ in values] == [name for name, _ in SHAPING]


def test_an_older_digest_cannot_name_the_option(tmp_path: Path) -> None:
    now = shaping_values(_options(tmp_path), _spec(tmp_path), TARGET)
    assert changed_options("sha256:" + "0" * 64, now) is None


def test_a_local_find_links_counts_relative_to_the_lock(tmp_path: Path) -> None:
    """The same project checked out in two places has one identity."""
    values = []
    for checkout in (tmp_path / "dev", tmp_path / "ci"):
        cli = IndexOptions(find_links=(str(checkout / "wheels"),))
        values.append(shaping_values(_options(checkout, cli_index=cli), _spec(checkout), TARGET))
    assert values[0] == values[1]
    assert dict(values[0])["--find-links"] == "('wheels',)"


def test_pip_configuration_is_not_declared(tmp_path: Path) -> None:
    """Only the inputs' and the command line's options; with the command line's index URL
    over the inputs' and --no-index from either."""
    options = _options(tmp_path, cli_index=IndexOptions(index_url="http://cli/simple"))
    options = replace(options, cli_index_url_set=True)
    spec = IndexOptions(index_url="http://file/simple", find_links=("http://links/",))
    declared = declared_options(options, spec)
    assert declared.index_url == "http://cli/simple"
    assert declared.find_links == ("http://links/",)
    assert declared_options(_options(tmp_path), IndexOptions()) == IndexOptions()


def test_a_secret_is_not_in_the_identity(tmp_path: Path) -> None:
    cli = IndexOptions(index_url="http://user:t0ken@host/simple")
    values = shaping_values(_options(tmp_path, cli_index=cli), _spec(tmp_path), TARGET)
    assert "t0ken" not in repr(values) and "user:****@host" in dict(values)["--index-url"]
