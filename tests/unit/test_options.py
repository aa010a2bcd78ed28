"""cli/options and indexopts: the default output beside the input, the option lines a
lockfile starts with, the command a header records (credentials redacted, run-only flags
dropped), and the digests that let check decide staleness offline; as tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lockbuild.cli.options import (
    cache_root,
    command_line,
    default_output,
    drop_options,
    input_digests,
)
from lockbuild.errors import UsageError
from lockbuild.indexopts import option_lines
from lockbuild.spec import CompileOptions, IndexOptions, Spec
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit

DEFAULT = "https://default.example/simple"


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ((), "requirements.txt"),
        (("requirements.in",), "requirements.txt"),
        (("deps/dev.in", "other.in"), "deps/dev.txt"),
        (("pyproject.toml",), "requirements.txt"),
        (("sub/setup.cfg",), "sub/requirements.txt"),
        (("reqs",), "reqs.txt"),
    ],
)
def test_default_output(sources: tuple[str, ...], expected: str) -> None:
    assert default_output([Path(s) for s in sources]) == Path(expected)


def test_a_txt_input_needs_an_output_file() -> None:
    with pytest.raises(UsageError, match="^in.txt: give --output-file; the default would"):
        default_output([Path("in.txt")])


@pytest.mark.parametrize(
    ("index", "lines"),
    [
        (IndexOptions(), ()),
        (IndexOptions(index_url=DEFAULT + "/"), ()),
        (
            IndexOptions(index_url="https://mirror.example/simple"),
            ("--index-url https://mirror.example/simple",),
        ),
        (
            IndexOptions(
                no_index=True,
                index_url="https://x.example",
                extra_index_urls=("https://y.example",),
            ),
            ("--no-index",),
        ),
        (
            IndexOptions(extra_index_urls=("https://a.example", "https://b.example")),
            ("--extra-index-url https://a.example", "--extra-index-url https://b.example"),
        ),
        (IndexOptions(trusted_hosts=("h.example",)), ("--trusted-host h.example",)),
        (
            IndexOptions(only_binary=frozenset({"b", "a"}), no_binary=frozenset({":all:"})),
            # pip-compile's order: :all: first, then one line per name
            ("--no-binary :all:", "--only-binary a", "--only-binary b"),
        ),
        (
            IndexOptions(find_links=("https://links.example/",)),
            ("--find-links https://links.example/",),
        ),
    ],
)
def test_option_lines(index: IndexOptions, lines: tuple[str, ...], tmp_path: Path) -> None:
    # pip's default index, as compile asked the pip beside lockbuild, is kept on the options
    assert option_lines(replace(index, default_index=DEFAULT), tmp_path) == lines


def test_find_links_inside_the_output_folder_are_relative(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    inside = IndexOptions(find_links=(str(tmp_path / "wheels"), str(tmp_path), "/elsewhere/w"))
    assert option_lines(inside, tmp_path) == (
        "--find-links wheels",
        "--find-links .",
        "--find-links /elsewhere/w",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compile"], "lockbuild compile"),
        (["compile", "-q", "--verbose", "--no-cache", "in.in"], "lockbuild compile in.in"),
        (["compile", "--cache-dir", "/c", "--workers", "4", "-U"], "lockbuild compile -U"),
        (["compile", "--cache-dir=/c", "--offline", "--refresh"], "lockbuild compile"),
        (
            ["compile", "--index-url", "https://u:secret@i.example/simple"],
            "lockbuild compile --index-url https://u:****@i.example/simple",
        ),
        (["compile", "a b.in"], "lockbuild compile 'a b.in'"),
        (["compile", "--no-replay", "-P", "x==1"], "lockbuild compile -P x==1"),
    ],
)
def test_command_line(argv: list[str], expected: str) -> None:
    assert command_line(argv) == expected


@pytest.mark.parametrize(
    ("words", "dropped", "valued", "positionals", "kept"),
    [
        (["-o", "x.txt", "in.in"], {"-o"}, {"-o"}, False, ["in.in"]),
        (["-o=x.txt", "in.in"], {"-o"}, {"-o"}, False, ["in.in"]),
        (["-o", "x.txt", "in.in"], set(), {"-o"}, True, ["-o", "x.txt"]),
        (["-q", "-o", "x.txt"], {"-q"}, {"-o"}, False, ["-o", "x.txt"]),
        (["-o"], {"-o"}, {"-o"}, False, []),  # a value missing at the end
        (["--pre", "a", "--pre"], {"--pre"}, set(), False, ["a"]),
    ],
)
def test_drop_options(
    words: list[str], dropped: set[str], valued: set[str], positionals: bool, kept: list[str]
) -> None:
    assert drop_options(words, dropped, valued, drop_positionals=positionals) == kept


@pytest.mark.parametrize(
    ("cache_dir", "no_cache", "expected"),
    [(Path("/c"), False, Path("/c")), (Path("/c"), True, None), (None, True, None)],
)
def test_cache_root(cache_dir: Path | None, no_cache: bool, expected: Path | None) -> None:
    assert cache_root(cache_dir, no_cache) == expected


def _digests(tmp_path: Path, index: IndexOptions, **changes: object) -> dict[str, str]:
    source = tmp_path / "requirements.in"
    spec = Spec((), (), IndexOptions(), (source,), (source.resolve(),))
    compile_options = CompileOptions(
        sources=(source,),
        output_file=tmp_path / "requirements.txt",
        build_output_file=tmp_path / "requirements-build.txt",
        cli_index=index,
        cli_index_url_set=index.index_url is not None,
        **changes,  # type: ignore[arg-type]
    )
    target = for_platform("3.11", ["manylinux_2_28_x86_64"])
    return dict(input_digests(compile_options, spec, target))


def test_input_digests_name_each_file_and_one_digest_of_the_rest(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("attrs\n")
    base = _digests(tmp_path, IndexOptions())
    assert sorted(base) == ["options", "requirements.in"]
    assert len(base["requirements.in"]) == 71
    # One digest of all options, then one fingerprint per option (check names it).
    whole, prints = base["options"].removeprefix("sha256:").split(":")
    assert len(whole) == 64 and all(len(p) == 8 for p in prints.split("."))
    (tmp_path / "requirements.in").write_text("attrs>=23\n")
    edited = _digests(tmp_path, IndexOptions())
    assert edited["requirements.in"] != base["requirements.in"]
    assert edited["options"] == base["options"]


@pytest.mark.parametrize(
    ("index", "changes", "same"),
    [
        (IndexOptions(), {"quiet": True, "workers": 2, "cache_dir": Path("/c")}, True),
        (IndexOptions(), {"generate_hashes": True}, False),
        (IndexOptions(), {"extras": ("x",)}, False),
        (IndexOptions(pre=True), {}, False),
        (IndexOptions(index_url="https://i.example/simple"), {}, False),
        # check reads the recorded (redacted) command: credentials must not change it
        (IndexOptions(index_url="https://u:pw@i.example/simple"), {}, "redacted"),
    ],
)
def test_what_shapes_the_options_digest(
    tmp_path: Path, index: IndexOptions, changes: dict[str, object], same: bool | str
) -> None:
    (tmp_path / "requirements.in").write_text("attrs\n")
    base = _digests(tmp_path, IndexOptions())["options"]
    got = _digests(tmp_path, index, **changes)["options"]
    if same == "redacted":
        other = _digests(tmp_path, IndexOptions(index_url="https://u:other@i.example/simple"))
        assert got == other["options"] != base
    else:
        assert (got == base) is same
