"""Index options to installer inputs, the one translator: option lines read, and pip's
and uv's arguments and environments written from them (tables of inputs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lockbuild.indexopts import (
    IndexOptions,
    OptionLineError,
    checked_strategy,
    option_lines,
    option_words,
    overridden,
    pip_inputs,
    read_option_lines,
    uv_inputs,
    uv_strategy_words,
)

pytestmark = pytest.mark.unit

MAIN = "http://main.example/simple/"
EXTRA = "http://extra.example/simple/"
TWO = IndexOptions(index_url=MAIN, extra_index_urls=(EXTRA,))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-i http://a/", [("--index-url", "http://a/")]),
        ("--index-url=http://a/", [("--index-url", "http://a/")]),
        ("-rother.txt", [("--requirement", "other.txt")]),
        ("--no-index --pre", [("--no-index", None), ("--pre", None)]),
        ("-f ./w --trusted-host h", [("--find-links", "./w"), ("--trusted-host", "h")]),
        ("--only-binary :all:", [("--only-binary", ":all:")]),
    ],
)
def test_option_words(line: str, words: list[tuple[str, str | None]]) -> None:
    assert [(w.key, w.value) for w in option_words(line)] == words


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("--frobnicate", "unknown option '--frobnicate'"),
        ("--index-url", "option --index-url needs a value"),
        ("--no-index=1", "option --no-index takes no value"),
        ("--index-url 'x", "cannot parse option line"),
    ],
)
def test_option_words_refused(line: str, error: str) -> None:
    with pytest.raises(OptionLineError, match=error):
        list(option_words(line))


def test_editable_takes_the_rest_of_the_line() -> None:
    (word,) = option_words("-e ./pkg[extra] ; python_version > '3'")
    assert word.key == "--editable" and word.value == "./pkg[extra]"
    assert word.rest == (";", "python_version", ">", "3")


def test_option_lines_read_back(tmp_path: Path) -> None:
    """What compile writes before the pins reads back to the same options."""
    options = IndexOptions(
        index_url=MAIN,
        extra_index_urls=(EXTRA,),
        find_links=(str(tmp_path / "wheels"),),
        trusted_hosts=("main.example",),
        only_binary=frozenset({":all:"}),
        no_binary=frozenset({"abiext"}),
    )
    lines = option_lines(replace(options, default_index="http://default/simple"), tmp_path)
    assert lines == (
        f"--index-url {MAIN}",
        f"--extra-index-url {EXTRA}",
        "--find-links wheels",
        "--trusted-host main.example",
        "--only-binary :all:",
        "--no-binary abiext",
    )
    assert read_option_lines(lines, tmp_path) == options
    assert read_option_lines(lines, tmp_path, strategy="first-index").strategy == "first-index"


def test_default_index_is_not_written(tmp_path: Path) -> None:
    options = IndexOptions(
        index_url="http://default/simple/", default_index="http://default/simple"
    )
    assert option_lines(options, tmp_path) == ()


@pytest.mark.parametrize(
    ("lines", "strategy", "error"),
    [
        (["--frobnicate x"], None, "'--frobnicate x': unknown option"),
        ([], "best", "--index-strategy 'best': choose one of"),
        ([], "unsafe-first-match", "unsafe-first-match is not supported"),
    ],
)
def test_recorded_lines_refused(lines: list[str], strategy: str | None, error: str) -> None:
    with pytest.raises(OptionLineError, match=error):
        read_option_lines(lines, Path("."), strategy=strategy)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("first-index", True),
        ("unsafe-best-match", True),
        ("unsafe-first-match", False),
        ("", False),
    ],
)
def test_checked_strategy(value: str, ok: bool) -> None:
    if ok:
        assert checked_strategy(value) == value
    else:
        with pytest.raises(ValueError):
            checked_strategy(value)


@pytest.mark.parametrize(
    ("options", "argv", "env"),
    [
        (
            TWO,
            ("--index-url", MAIN, "--extra-index-url", EXTRA),
            {},
        ),
        (
            IndexOptions(no_index=True, find_links=("/w",), only_binary=frozenset({"x"})),
            ("--no-index", "--find-links", "/w", "--only-binary", "x"),
            {},
        ),
    ],
)
def test_pip_argv(options: IndexOptions, argv: tuple[str, ...], env: dict[str, str]) -> None:
    inputs = pip_inputs(options)
    assert inputs.argv == argv and dict(inputs.env) == env


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (
            TWO,
            {"PIP_INDEX_URL": MAIN, "PIP_EXTRA_INDEX_URL": EXTRA, "PIP_FIND_LINKS": ""},
        ),
        (
            IndexOptions(no_index=True, find_links=("/a", "/b"), pre=True),
            {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/a /b", "PIP_PRE": "1"},
        ),
        (
            IndexOptions(index_url=MAIN, trusted_hosts=("h1", "h2")),
            {
                "PIP_INDEX_URL": MAIN,
                "PIP_EXTRA_INDEX_URL": "",
                "PIP_FIND_LINKS": "",
                "PIP_TRUSTED_HOST": "h1 h2",
            },
        ),
    ],
)
def test_pip_environment_hides_urls(options: IndexOptions, env: dict[str, str]) -> None:
    inputs = pip_inputs(options, formats=False, hide_urls=True)
    assert inputs.argv == () and dict(inputs.env) == env


@pytest.mark.parametrize(
    ("options", "hide", "argv", "env"),
    [
        (
            TWO,
            False,
            ("--index-url", MAIN, "--extra-index-url", EXTRA)
            + ("--index-strategy", "unsafe-best-match"),
            {},
        ),
        (
            IndexOptions(index_url=MAIN, extra_index_urls=(EXTRA,), strategy="first-index"),
            True,
            ("--index-strategy", "first-index"),
            {"UV_INDEX_URL": MAIN, "UV_EXTRA_INDEX_URL": EXTRA},
        ),
        (
            IndexOptions(no_index=True, find_links=("/w",), pre=True),
            True,
            ("--no-index", "--find-links", "/w", "--index-strategy", "unsafe-best-match")
            + ("--prerelease", "allow"),
            {},
        ),
    ],
)
def test_uv_inputs(
    options: IndexOptions, hide: bool, argv: tuple[str, ...], env: dict[str, str]
) -> None:
    inputs = uv_inputs(options, formats=False, hide_urls=hide)
    assert inputs.argv == argv and dict(inputs.env) == env


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (TWO, ("--index-strategy", "unsafe-best-match")),
        (IndexOptions(index_url=MAIN, extra_index_urls=(EXTRA,), strategy="first-index"), ()),
        (IndexOptions(index_url=MAIN), ()),  # one index: nothing to choose between
        (IndexOptions(no_index=True, extra_index_urls=(EXTRA,)), ()),
    ],
)
def test_uv_strategy_words(options: IndexOptions, words: tuple[str, ...]) -> None:
    assert uv_strategy_words(options) == words


@pytest.mark.parametrize(
    ("options", "order"),
    [
        (TWO, (MAIN, EXTRA)),
        (IndexOptions(extra_index_urls=(EXTRA, MAIN), strategy="first-index"), (EXTRA, MAIN, "D")),
        (IndexOptions(no_index=True, extra_index_urls=(EXTRA,)), ()),
    ],
)
def test_search_order(options: IndexOptions, order: tuple[str, ...]) -> None:
    assert options.search_order("D") == order


def test_overridden_by_sync_flags() -> None:
    recorded = IndexOptions(no_index=True, find_links=("/w",))
    given = IndexOptions(index_url=MAIN)
    assert overridden(recorded, given) == IndexOptions(index_url=MAIN, find_links=("/w",))
