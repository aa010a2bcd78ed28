"""pip-compile's and pip-sync's command lines as ``lockbuild compile`` and ``lockbuild
sync`` read them: what each option becomes, and the usage errors (in process, no
resolution: click's runner and the option readers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from lockbuild.cli.compileargs import compile_options
from lockbuild.cli.main import compile_command, main

pytestmark = pytest.mark.unit


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("alpha\n")
    (tmp_path / "c.txt").write_text("beta<2\n")
    return tmp_path


def options_for(args: list[str]) -> Any:
    ctx = compile_command.make_context("compile", list(args))
    options, _ = compile_options(ctx, dict(ctx.params), argv=list(args))
    return options


# pip-compile's options (pip-tools 7) -> what lockbuild's compile makes of them.
ACCEPTED: list[tuple[list[str], dict[str, Any]]] = [
    ([], {"strip_extras": True, "allow_unsafe": True, "annotate": True}),
    (["--allow-unsafe"], {"allow_unsafe": True}),
    (["--no-allow-unsafe"], {"allow_unsafe": False}),
    (["--strip-extras"], {"strip_extras": True}),
    (["--no-strip-extras"], {"strip_extras": False}),
    (["--no-emit-index-url"], {"emit_index_url": False}),
    (["--emit-index-url"], {"emit_index_url": True}),
    (["--no-emit-find-links"], {"emit_find_links": False}),
    (["--emit-find-links"], {"emit_find_links": True}),
    (["--no-emit-trusted-host"], {"emit_trusted_host": False}),
    (["--no-emit-options"], {"emit_options": False}),
    (["--no-header"], {}),
    (["--header"], {}),
    (["--no-annotate"], {"annotate": False}),
    (["--annotation-style", "line"], {"annotation_style": "line"}),
    (["--annotation-style=split"], {"annotation_style": "split"}),
    (["-c", "c.txt"], {"constraint_files": (Path("c.txt"),)}),
    (["--constraint", "c.txt"], {"constraint_files": (Path("c.txt"),)}),
    (["--unsafe-package", "pip"], {"unsafe_packages": ("pip",)}),
    (["--max-rounds", "10"], {}),
    (["--resolver", "backtracking"], {}),
    (["--resolver=legacy"], {}),
    (["--newline", "CRLF"], {"newline": "crlf"}),
    (["--newline", "native"], {"newline": "native"}),
    (["--reuse-hashes"], {}),
    (["--no-reuse-hashes", "--generate-hashes"], {"generate_hashes": True}),
    (["--uploaded-prior-to", "2024-01-01T00:00:00Z"], {}),
    (["--no-config"], {"config_file": None}),
    (["--trusted-host", "example.invalid"], {}),
    (["--cert", "ca.pem", "--client-cert", "client.pem"], {}),
    (["--color"], {}),
    (["--no-color"], {}),
    (["-p"], {}),
    (["--build-isolation"], {}),
    (["--no-build-isolation"], {}),
    (["--build-deps-for", "all"], {"build_deps_for": "all"}),
    (["--build-deps-for", "needed"], {"build_deps_for": "needed"}),
    (["--pip-args", "--pre --only-binary :all: --timeout 5"], {}),
    (["--pip-args", "-c c.txt"], {"constraint_files": (Path("c.txt"),)}),
    (["-o", "out.txt"], {"output_file": Path("out.txt")}),
]


def _param_id(value: object) -> str | None:
    """Test ids that are the same in every process (pytest-xdist compares them): the
    words of an argument list; pytest's own numbering for functions and tables."""
    return " ".join(value) if isinstance(value, list) else None


@pytest.mark.parametrize(("args", "expected"), ACCEPTED, ids=_param_id)
def test_pip_compile_options_accepted(
    project: Path, args: list[str], expected: dict[str, Any]
) -> None:
    options = options_for(args)
    for field, value in expected.items():
        assert getattr(options, field) == value, field


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["-p"], lambda o: o.cli_index.pre),
        (["--pip-args", "--pre"], lambda o: o.cli_index.pre),
        (["--pip-args", "--only-binary=:all:"], lambda o: o.cli_index.only_binary == {":all:"}),
        (
            ["--pip-args", "--extra-index-url http://x.invalid/simple/"],
            lambda o: o.cli_index.extra_index_urls == ("http://x.invalid/simple/",),
        ),
        (
            ["--trusted-host", "a.invalid", "--trusted-host", "b.invalid"],
            lambda o: o.cli_index.trusted_hosts == ("a.invalid", "b.invalid"),
        ),
        (
            ["--uploaded-prior-to", "2024-01-01T00:00:00Z"],
            lambda o: o.exclude_newer is not None and o.exclude_newer.text.startswith("2024"),
        ),
        (
            ["--build-deps-for", "wheel", "--build-deps-for", "sdist"],
            lambda o: (
                o.project_build_targets == ("sdist", "wheel") and o.build_deps_for == "needed"
            ),
        ),
        (
            ["--all-build-deps"],
            lambda o: o.project_build_targets == ("editable", "sdist", "wheel"),
        ),
        (
            ["--build-deps-for", "all", "--build-deps-for", "wheel"],
            lambda o: o.build_deps_for == "all" and o.project_build_targets == ("wheel",),
        ),
        (
            ["--all-build-deps", "--only-build-deps"],
            lambda o: o.only_build_deps,
        ),
    ],
    ids=_param_id,
)
def test_pip_compile_option_meaning(project: Path, args: list[str], check: Any) -> None:
    assert check(options_for(args))


def test_output_shaping_options_are_part_of_the_identity(project: Path) -> None:
    """check must see a lock made with other output flags as stale: each flag that shapes
    the lockfile changes the options digest the header records, and check names them;
    the defaults leave the digest as locks made before these flags had it."""
    from lockbuild.cli.options import (
        OUTPUT_FLAGS,
        SHAPING,
        changed_options,
        input_digests,
        prepare,
        shaping_values,
    )

    def identity(args: list[str]) -> tuple[str, tuple[tuple[str, str], ...]]:
        ctx = compile_command.make_context("compile", list(args))
        options, target = compile_options(ctx, dict(ctx.params), argv=list(args))
        spec, _ = prepare(options)
        values = shaping_values(options, spec, target)
        return dict(input_digests(options, spec, target))["options"], values

    base, base_values = identity([])
    assert len(base_values) == len(SHAPING)  # nothing added for lockbuild's defaults
    for args in (
        ["--no-strip-extras"],
        ["--no-allow-unsafe"],
        ["--unsafe-package", "pip"],
        ["--no-annotate"],
        ["--annotation-style", "line"],
        ["--no-emit-index-url"],
        ["--no-emit-find-links"],
        ["--no-emit-trusted-host"],
        ["--no-emit-options"],
        ["--newline", "crlf"],
        ["--build-deps-for", "wheel"],
    ):
        digest, values = identity(args)
        assert digest != base, args
        assert changed_options(base, values) == [OUTPUT_FLAGS], args
        assert changed_options(digest, base_values) == [OUTPUT_FLAGS], args
    for args in (["--max-rounds", "3"], ["--resolver", "legacy"], ["--no-header"], ["-q"]):
        assert identity(args)[0] == base, args


# Usage errors: one line, exit 2, no traceback, no file written.
USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["--annotation-style", "wide"], "'wide' is not one of 'line', 'split'"),
    (["--newline", "cr"], "'cr' is not one of"),
    (["--resolver", "fast"], "'fast' is not one of"),
    (["--max-rounds", "many"], "'many' is not a valid integer"),
    (["--build-deps-for", "some"], "'some' is not one of"),
    (["--build-deps-for", "needed", "--build-deps-for", "all"], "exclude each other"),
    (["--only-build-deps"], "--only-build-deps needs --build-deps-for"),
    (["--pip-args", "--require-virtualenv"], "--pip-args '--require-virtualenv': not a pip"),
    (["--pip-args", "--index-url"], "--pip-args --index-url: needs a value"),
    (["--pip-args", "'unclosed"], "--pip-args"),
    (["--uploaded-prior-to", "soon"], "--uploaded-prior-to 'soon'"),
    (
        ["--uploaded-prior-to", "2024-01-01", "--exclude-newer", "2024-01-01"],
        "not both",
    ),
    (["--pip-args", "--pre --pre=x"], "--pre takes no value"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS, ids=_param_id)
def test_pip_compile_usage_errors(project: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["compile", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (project / "requirements.txt").exists()


PIP_TOOLS_CONFIGS: list[tuple[str, list[str], dict[str, Any]]] = [
    (
        '[tool.pip-tools]\nallow-unsafe = false\nstrip-extras = false\nannotation-style = "line"\n',
        [],
        {"allow_unsafe": False, "strip_extras": False, "annotation_style": "line"},
    ),
    # pip-compile's negative spelling, and the compile table over the shared one.
    (
        "[tool.pip-tools]\nno-emit-index-url = true\ngenerate-hashes = false\n"
        "[tool.pip-tools.compile]\ngenerate-hashes = true\n",
        [],
        {"emit_index_url": False, "generate_hashes": True},
    ),
    # Underscores as pip-tools also takes them; the command line wins.
    ("[tool.pip-tools]\nno_annotate = true\n", ["--annotate"], {"annotate": True}),
    ('[tool.pip-tools]\nconstraint = ["c.txt"]\n', [], {"constraint_files": (Path("c.txt"),)}),
    # [tool.lockbuild] present: [tool.pip-tools] is not read.
    (
        "[tool.lockbuild]\ngenerate-hashes = true\n[tool.pip-tools]\nno-annotate = true\n",
        [],
        {"generate_hashes": True, "annotate": True},
    ),
    # --no-config: neither is read.
    ("[tool.pip-tools]\nno-annotate = true\n", ["--no-config"], {"annotate": True}),
]


@pytest.mark.parametrize(("toml", "args", "expected"), PIP_TOOLS_CONFIGS, ids=_param_id)
def test_pip_tools_configuration(
    project: Path, toml: str, args: list[str], expected: dict[str, Any]
) -> None:
    (project / "pyproject.toml").write_text(toml)
    options = options_for(args)
    for field, value in expected.items():
        assert getattr(options, field) == value, field


def test_pip_tools_toml_file_and_explicit_config(project: Path) -> None:
    (project / ".pip-tools.toml").write_text("[tool.pip-tools]\nno-annotate = true\n")
    assert options_for([]).annotate is False
    (project / "other.toml").write_text("[tool.pip-tools]\nallow-unsafe = false\n")
    options = options_for(["--config", "other.toml"])
    assert options.allow_unsafe is False and options.annotate is True


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("", "missing.toml: no such configuration file"),
        ("[tool.pip-tools]\nno-such-option = 1\n", "[tool.pip-tools] unknown key 'no-such-option'"),
        ('[tool.pip-tools]\nannotation-style = "wide"\n', "[tool.pip-tools] annotation-style"),
        ("[tool.pip-tools]\nmax-rounds = 'x'\n", "[tool.pip-tools] max-rounds"),
        ("[tool.pip-tools\n", "not valid TOML"),
    ],
)
def test_pip_tools_configuration_errors(project: Path, toml: str, message: str) -> None:
    """A configuration file that cannot be read is bad input (exit 1), named."""
    if toml:
        (project / "pyproject.toml").write_text(toml)
    result = CliRunner().invoke(main, ["compile", *([] if toml else ["--config", "missing.toml"])])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_every_pip_compile_option_is_accepted() -> None:
    """Every long and short option pip-compile 7 has is an option of lockbuild compile."""
    from piptools.scripts.compile import cli as pip_compile

    ours = {opt for p in compile_command.params for opt in (*p.opts, *p.secondary_opts)}
    theirs = {
        opt
        for p in pip_compile.params
        if isinstance(p, click.Option)
        for opt in (*p.opts, *p.secondary_opts)
    }
    assert theirs - {"--version", "--help", "-h"} <= ours, sorted(theirs - ours)


def test_check_reads_pip_tools_configuration_with_compile_only_keys(project: Path) -> None:
    """check takes compile's options but not its one-off ones (-U, -P, -n, -r): a
    [tool.pip-tools] table setting those is still read, not refused."""
    from lockbuild.cli.main import check_command

    (project / "pyproject.toml").write_text(
        "[tool.pip-tools]\nupgrade = true\ndry-run = false\nno-annotate = true\n"
    )
    ctx = check_command.make_context("check", [])
    options, _ = compile_options(ctx, dict(ctx.params), argv=[])
    assert options.annotate is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user"], "--user: lockbuild syncs a venv"),
        (["--installer", "uv", "--pip-args", "--no-compile"], "--no-compile: pip's option"),
        (["--installer", "uv", "--cert", "ca.pem"], "--cert: pip's option"),
        (["--pip-args", "'open"], "--pip-args"),
        (["--python-executable"], "requires an argument"),
    ],
)
def test_pip_sync_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["sync", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_every_pip_sync_option_is_accepted() -> None:
    import click
    from piptools.scripts.sync import cli as pip_sync

    from lockbuild.cli.main import sync_command

    ours = {opt for p in sync_command.params for opt in (*p.opts, *p.secondary_opts)}
    theirs = {
        opt
        for p in pip_sync.params
        if isinstance(p, click.Option)
        for opt in (*p.opts, *p.secondary_opts)
    }
    assert theirs - {"--version", "--help", "-h"} <= ours, sorted(theirs - ours)
