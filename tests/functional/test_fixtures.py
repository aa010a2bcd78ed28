"""The fixtures are real: pip and uv install from them, and the backend behaves."""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from packaging.version import Version
from pyproject_hooks import BuildBackendHookCaller, quiet_subprocess_runner

from tests.fixtures import lbbackend
from tests.fixtures.indexgen import (
    DEFAULT_UPLOAD_TIME,
    FixtureIndex,
    add_abi_scenario,
    find_links_dir,
    isolated_env,
    make_sdist,
    make_wheel,
    read_dist_metadata,
    sha256_file,
    write_simple_index,
)
from tests.fixtures.server import PIP_ACCEPT, IndexServer, negotiate

UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
PIP_VERSION = Version(importlib.metadata.version("pip"))
ABI_ERROR = "size changed"


# --------------------------------------------------------------------------- helpers


def run(
    cmd: Sequence[str], env: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def pip(args: Sequence[str], env: dict[str, str], *, check: bool = True) -> str:
    """Run the project's pip (``python -m pip``) and return its combined output."""
    proc = run([sys.executable, "-m", "pip", *args], env, check=check)
    return proc.stdout + proc.stderr


def new_venv(path: Path, env: dict[str, str]) -> str:
    """A fresh venv without pip (pip runs from outside via ``--python``)."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)], env)
    return str(path / "bin" / "python")


def import_abiext(python: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import json, abiext; print(json.dumps(abiext.BUILT_AGAINST))"
    return run([python, "-c", code], env, check=False)


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    add_abi_scenario(idx)
    idx.wheel(
        "Rich.Meta",
        "0.5",
        requires_python=">=3.8,<4",
        requires_dist=["abicore>=1", 'extra-dep; extra == "fancy"'],
        extras=["fancy"],
    )
    idx.sdist(
        "dynpkg",
        "3.0",
        requires_dist=["abicore<3"],
        dynamic=["Requires-Dist"],
        dynamic_build_requires=["abicore>=2"],
    )
    idx.upload_time("abicore-2.0-py3-none-any.whl", "2024-06-01T12:30:00Z")
    idx.write()
    return idx


@pytest.fixture(scope="session")
def server(index: FixtureIndex) -> Iterator[IndexServer]:
    with IndexServer(index.root) as srv:
        yield srv


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return isolated_env(tmp_path)


# --------------------------------------------------------------------------- env


def test_isolated_env_drops_machine_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.setenv(key, "/somewhere")
    monkeypatch.setenv("UV_INDEX_URL", "http://example.invalid/")
    monkeypatch.setenv("KEEP_ME", "1")
    env = isolated_env(tmp_path, PIP_CONSTRAINT="/c.txt", KEEP_ME=None)
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_CONSTRAINT"] == "/c.txt"
    for key in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL"):
        assert key not in env
    assert "KEEP_ME" not in env
    assert Path(env["PIP_CACHE_DIR"]).is_relative_to(tmp_path)
    assert Path(env["UV_CACHE_DIR"]).is_relative_to(tmp_path)
    assert "127.0.0.1" in env["NO_PROXY"]


# --------------------------------------------------------------------------- wheels


def test_make_wheel_is_valid_and_deterministic(tmp_path: Path) -> None:
    tag = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
    kwargs = {
        "requires_dist": ["abicore>=1", 'b; extra == "x"'],
        "requires_python": ">=3.10",
        "extras": ["x"],
        "tag": tag,
        "module": "ANSWER = 42",
        "files": {"Foo_Bar/data.txt": "hello"},
    }
    one = make_wheel(tmp_path / "a", "Foo.Bar", "1.0", **kwargs)  # type: ignore[arg-type]
    two = make_wheel(tmp_path / "b", "Foo.Bar", "1.0", **kwargs)  # type: ignore[arg-type]
    assert one.name == f"foo_bar-1.0-{tag}.whl"
    assert one.read_bytes() == two.read_bytes()

    with zipfile.ZipFile(one) as whl:
        names = whl.namelist()
        assert "Foo_Bar/__init__.py" in names
        init = whl.read("Foo_Bar/__init__.py").decode()
        assert "__version__ = '1.0'" in init and "ANSWER = 42" in init
        wheel_file = whl.read("foo_bar-1.0.dist-info/WHEEL").decode()
        assert "Tag: cp311-cp311-manylinux_2_17_x86_64\n" in wheel_file
        assert "Tag: cp311-cp311-manylinux2014_x86_64\n" in wheel_file
        assert "Root-Is-Purelib: false" in wheel_file
        metadata = whl.read("foo_bar-1.0.dist-info/METADATA").decode()
        assert "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\n" in metadata
        assert "Requires-Python: >=3.10" in metadata
        assert "Provides-Extra: x" in metadata
        assert 'Requires-Dist: b; extra == "x"' in metadata
        record = whl.read("foo_bar-1.0.dist-info/RECORD").decode().splitlines()
        assert names[-1] == "foo_bar-1.0.dist-info/RECORD"
        assert record[-1] == "foo_bar-1.0.dist-info/RECORD,,"
        assert {line.split(",")[0] for line in record} == set(names)
        for line in record[:-1]:
            path, digest, size = line.split(",")
            data = whl.read(path)
            assert digest == lbbackend.record_hash(data) and int(size) == len(data)
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in whl.infolist())


# --------------------------------------------------------------------------- sdists


def _tar_members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {info.name: info for info in tar.getmembers()}


def _tar_read(path: Path, name: str) -> str:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read().decode()


def test_make_sdist_layout_and_determinism(tmp_path: Path) -> None:
    kwargs = {
        "requires_dist": ["abicore"],
        "build_requires": ["abicore>=1"],
        "dynamic": ["Requires-Dist"],
        "requires_python": ">=3.9",
    }
    one = make_sdist(tmp_path / "a", "My-Pkg", "2.0", **kwargs)  # type: ignore[arg-type]
    two = make_sdist(tmp_path / "b", "My-Pkg", "2.0", **kwargs)  # type: ignore[arg-type]
    assert one.name == "my_pkg-2.0.tar.gz"
    assert one.read_bytes() == two.read_bytes()
    assert one.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0

    members = _tar_members(one)
    assert list(members) == sorted(members)
    assert {
        "my_pkg-2.0/PKG-INFO",
        "my_pkg-2.0/pyproject.toml",
        "my_pkg-2.0/_backend/lbbackend.py",
        "my_pkg-2.0/_backend/lbconfig.json",
    } <= set(members)
    assert {info.mtime for info in members.values()} == {lbbackend.FIXED_MTIME}

    pkg_info = _tar_read(one, "my_pkg-2.0/PKG-INFO")
    assert pkg_info.startswith("Metadata-Version: 2.2\nName: My-Pkg\nVersion: 2.0\n")
    assert "Dynamic: Requires-Dist" in pkg_info
    assert "Requires-Dist" not in pkg_info.replace("Dynamic: Requires-Dist", "")
    assert "Requires-Python: >=3.9" in pkg_info
    pyproject = tomllib.loads(_tar_read(one, "my_pkg-2.0/pyproject.toml"))
    assert pyproject["build-system"] == {
        "requires": ["abicore>=1"],
        "build-backend": "lbbackend",
        "backend-path": ["_backend"],
    }
    info = read_dist_metadata(one)
    assert (info.name, info.version, info.requires_python) == ("My-Pkg", "2.0", ">=3.9")

    # Variants: no requires key, old-style metadata, raw pyproject, no pyproject, zip.
    no_req = make_sdist(tmp_path / "c", "noreq", "1.0", build_requires=None)
    assert (
        "requires"
        not in tomllib.loads(_tar_read(no_req, "noreq-1.0/pyproject.toml"))["build-system"]
    )
    old = make_sdist(tmp_path / "d", "old", "1.0", metadata_version="2.1", requires_dist=["x"])
    assert "Metadata-Version: 2.1\n" in _tar_read(old, "old-1.0/PKG-INFO")
    assert "Requires-Dist: x" in _tar_read(old, "old-1.0/PKG-INFO")
    raw = make_sdist(tmp_path / "e", "raw", "1.0", pyproject="[project]\nname = 'raw'\n")
    assert _tar_read(raw, "raw-1.0/pyproject.toml") == "[project]\nname = 'raw'\n"
    legacy = make_sdist(tmp_path / "f", "legacy", "1.0", no_pyproject=True)
    assert "legacy-1.0/pyproject.toml" not in _tar_members(legacy)
    assert "legacy-1.0/setup.py" in _tar_members(legacy)
    zipped = make_sdist(tmp_path / "g", "zipped", "1.0", fmt="zip", requires_python=">=3")
    assert zipped.name == "zipped-1.0.zip"
    assert read_dist_metadata(zipped).requires_python == ">=3"
    with pytest.raises(ValueError):
        make_sdist(tmp_path / "h", "bad", "1.0", metadata_version="2.1", dynamic=["Requires-Dist"])


# --------------------------------------------------------------------------- backend


def _hook_caller(sdist: Path, dest: Path) -> BuildBackendHookCaller:
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    source = dest / sdist.name.removesuffix(".tar.gz")
    return BuildBackendHookCaller(
        str(source),
        build_backend="lbbackend",
        backend_path=["_backend"],
        python_executable=sys.executable,
        runner=quiet_subprocess_runner,
    )


def test_backend_hooks(tmp_path: Path) -> None:
    sdist = make_sdist(
        tmp_path / "dist",
        "hooked",
        "1.5",
        requires_dist=["abicore<3", 'extra-dep; extra == "more"'],
        extras=["more"],
        requires_python=">=3.8",
        build_requires=["packaging"],
        dynamic=["Requires-Dist"],
        dynamic_build_requires=["packaging>=20", "pyproject_hooks"],
        record_build_versions=["packaging"],
        module="def hello() -> str:\n    return 'hi'",
    )
    hooks = _hook_caller(sdist, tmp_path / "src")
    assert hooks.get_requires_for_build_wheel() == ["packaging>=20", "pyproject_hooks"]
    assert hooks.get_requires_for_build_sdist() == []

    meta_dir = tmp_path / "meta"
    meta_dir.mkdir()
    dist_info = hooks.prepare_metadata_for_build_wheel(str(meta_dir))
    assert dist_info == "hooked-1.5.dist-info"
    metadata = (meta_dir / dist_info / "METADATA").read_text()
    assert "Requires-Dist: abicore<3" in metadata  # the true value, unlike PKG-INFO
    assert 'Requires-Dist: extra-dep; extra == "more"' in metadata

    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    wheel_name = hooks.build_wheel(str(wheel_dir))
    assert wheel_name == "hooked-1.5-py3-none-any.whl"
    with zipfile.ZipFile(wheel_dir / wheel_name) as whl:
        build_env = whl.read("hooked/_build_env.py").decode()
        expected = f"BUILT_AGAINST = {{'packaging': {importlib.metadata.version('packaging')!r}}}"
        assert build_env.splitlines()[0] == expected
        # The backend also records everything its environment holds (here: this venv).
        assert build_env.splitlines()[1].startswith("BUILD_ENV = {")
        assert "def hello()" in whl.read("hooked/__init__.py").decode()
        record = whl.read("hooked-1.5.dist-info/RECORD").decode()
        assert "hooked/_build_env.py,sha256=" in record

    sdist_dir = tmp_path / "sdists"
    sdist_dir.mkdir()
    rebuilt = hooks.build_sdist(str(sdist_dir))
    assert rebuilt == "hooked-1.5.tar.gz"
    assert "hooked-1.5/_backend/lbconfig.json" in _tar_members(sdist_dir / rebuilt)


def test_backend_fails_clearly_without_build_dependency(tmp_path: Path) -> None:
    sdist = make_sdist(
        tmp_path / "dist", "needy", "1.0", record_build_versions=["surely-not-installed-dist"]
    )
    hooks = _hook_caller(sdist, tmp_path / "src")
    (tmp_path / "wheels").mkdir()
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        hooks.build_wheel(str(tmp_path / "wheels"))
    output = excinfo.value.output.decode()
    assert "surely-not-installed-dist is not installed in the build environment" in output

    sdist = make_sdist(tmp_path / "dist", "needy2", "1.0", dynamic_build_requires=["nope-dist"])
    hooks = _hook_caller(sdist, tmp_path / "src")
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        hooks.build_wheel(str(tmp_path / "wheels"))
    assert "nope-dist is not installed" in excinfo.value.output.decode()


# --------------------------------------------------------------------------- pip, end to end


def test_abi_scenario_with_pip(
    index: FixtureIndex, server: IndexServer, tmp_path: Path, env: dict[str, str]
) -> None:
    python = new_venv(tmp_path / "venv", env)
    target = ["--python", python]

    # 1. file:// index: pip builds abiext in isolation against the newest abicore (2.0),
    #    while the runtime gets abicore 1.0: the install succeeds, the import fails.
    pip(
        [*target, "install", "--no-cache-dir", "--index-url", index.url, "abicore==1.0", "abiext"],
        env,
    )
    proc = import_abiext(python, env)
    assert proc.returncode != 0
    assert ABI_ERROR in proc.stderr
    assert "abiext was built against abicore 2.0 but runtime has abicore 1.0" in proc.stderr

    # 2. HTTP index + --build-constraint: the build environment gets abicore 1.0 too.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("abicore==1.0\n")
    server.clear()
    reinstall = [*target, "install", "--force-reinstall", "--no-cache-dir", "--index-url"]
    pip(
        [*reinstall, server.url, "--build-constraint", str(constraints), "abiext", "abicore==1.0"],
        env,
    )
    proc = import_abiext(python, env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"abicore": "1.0"}
    assert ("GET", "/files/abiext-1.0.tar.gz") in server.requests
    # pip negotiated the JSON API
    accepts = {h.get("Accept", "") for h in server.request_headers}
    assert any("application/vnd.pypi.simple.v1+json" in a for a in accepts)

    # 3. PIP_CONSTRAINT: since pip 26.2 regular constraints no longer reach the isolated
    #    build environment (before 25.3 they did): only --build-constraint works there.
    pip(
        [*reinstall, server.url, "abiext"],
        isolated_env(tmp_path, PIP_CONSTRAINT=str(constraints)),
    )
    proc = import_abiext(python, env)
    if PIP_VERSION >= Version("26.2"):
        assert proc.returncode != 0 and ABI_ERROR in proc.stderr
    elif PIP_VERSION < Version("25.3"):
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"abicore": "1.0"}


def _uv_bin() -> str | None:
    try:
        import uv  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    return str(uv.find_uv_bin())


def test_abi_scenario_with_uv(server: IndexServer, tmp_path: Path, env: dict[str, str]) -> None:
    uv = _uv_bin()
    if uv is None:
        pytest.skip("uv is not installed")
    python = new_venv(tmp_path / "venv", env)
    base = [uv, "pip", "install", "--python", python, "--index-url", server.url, "--no-cache"]

    run([*base, "abicore==1.0", "abiext"], env)
    proc = import_abiext(python, env)
    assert proc.returncode != 0 and ABI_ERROR in proc.stderr

    constraints = tmp_path / "constraints.txt"
    constraints.write_text("abicore==1.0\n")
    run(
        [*base, "--reinstall", "--build-constraint", str(constraints), "abiext", "abicore==1.0"],
        env,
    )
    proc = import_abiext(python, env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"abicore": "1.0"}


def test_pip_download_from_find_links(
    index: FixtureIndex, tmp_path: Path, env: dict[str, str]
) -> None:
    flat = find_links_dir(tmp_path / "flat", index.files)
    out = tmp_path / "out"
    # Resolving abiext prepares its metadata: a build environment with abicore from the
    # same flat directory.
    pip(["download", "--no-index", "--find-links", str(flat), "-d", str(out), "abiext"], env)
    assert sorted(p.name for p in out.iterdir()) == [
        "abicore-2.0-py3-none-any.whl",
        "abiext-1.0.tar.gz",
    ]
    assert sha256_file(out / "abiext-1.0.tar.gz") == sha256_file(flat / "abiext-1.0.tar.gz")


def test_pip_honours_yanked_and_requires_python(tmp_path: Path, env: dict[str, str]) -> None:
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("yk", "1.0")
    idx.wheel("yk", "2.0")
    idx.wheel("yk", "3.0", requires_python=">=4")
    idx.yank("yk-2.0-py3-none-any.whl", "broken <release>")
    idx.write()

    page = (idx.simple_dir / "yk" / "index.html").read_text()
    assert 'data-yanked="broken &lt;release&gt;"' in page
    assert 'data-requires-python="&gt;=4"' in page
    payload = json.loads((idx.simple_dir / "yk" / "index.json").read_text())
    by_name = {f["filename"]: f for f in payload["files"]}
    assert by_name["yk-2.0-py3-none-any.whl"]["yanked"] == "broken <release>"
    assert by_name["yk-1.0-py3-none-any.whl"]["yanked"] is False
    assert by_name["yk-3.0-py3-none-any.whl"]["requires-python"] == ">=4"

    out = tmp_path / "out"
    with IndexServer(idx.root) as srv:
        pip(["download", "--no-deps", "-d", str(out), "--index-url", srv.url, "yk"], env)
        assert [p.name for p in out.iterdir()] == ["yk-1.0-py3-none-any.whl"]
        # ... and a pin still gets the yanked release, with a warning
        output = pip(["download", "--no-deps", "-d", str(out), "-i", srv.url, "yk==2.0"], env)
        assert "broken <release>" in output
        # a 500 on the project page is retried by pip
        srv.faults["/simple/yk/"] = ("status", 503, 1)
        srv.clear()
        pip(["download", "--no-deps", "-d", str(out), "-i", srv.url, "yk==1.0"], env)
        assert srv.paths().count("/simple/yk/") == 2


# --------------------------------------------------------------------------- HTTP server


def test_json_and_html_negotiation(index: FixtureIndex, server: IndexServer) -> None:
    status, headers, body = fetch(server.url + "rich-meta/", {"Accept": PIP_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    payload = json.loads(body)
    assert payload["meta"] == {"api-version": "1.1"}
    assert payload["name"] == "rich-meta"
    assert payload["versions"] == ["0.5"]
    (entry,) = payload["files"]
    assert set(entry) == {
        "filename",
        "url",
        "hashes",
        "requires-python",
        "yanked",
        "core-metadata",
        "dist-info-metadata",
        "size",
        "upload-time",
    }
    assert entry["filename"] == "rich_meta-0.5-py3-none-any.whl"
    assert entry["url"] == "../../files/rich_meta-0.5-py3-none-any.whl"
    assert entry["requires-python"] == ">=3.8,<4"
    assert entry["yanked"] is False
    assert entry["upload-time"] == DEFAULT_UPLOAD_TIME
    assert entry["core-metadata"] == entry["dist-info-metadata"]

    # the file and its .metadata are served, with matching hashes
    file_url = urllib.parse.urljoin(server.url + "rich-meta/", entry["url"])
    status, _, wheel = fetch(file_url)
    assert status == 200 and len(wheel) == entry["size"]
    assert hashlib.sha256(wheel).hexdigest() == entry["hashes"]["sha256"]
    status, _, meta = fetch(file_url + ".metadata")
    assert status == 200
    assert hashlib.sha256(meta).hexdigest() == entry["core-metadata"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
        assert whl.read("rich_meta-0.5.dist-info/METADATA") == meta
    assert (index.files_dir / "rich_meta-0.5-py3-none-any.whl.metadata").read_bytes() == meta

    # uv's Accept header gets JSON too; PEP 700 fields
    status, headers, body = fetch(server.url + "abicore/", {"Accept": UV_ACCEPT})
    payload = json.loads(body)
    assert payload["versions"] == ["1.0", "2.0"]
    times = {f["filename"]: f["upload-time"] for f in payload["files"]}
    assert times["abicore-2.0-py3-none-any.whl"] == "2024-06-01T12:30:00Z"
    # sdists have no .metadata file
    status, headers, body = fetch(server.url + "abiext/", {"Accept": PIP_ACCEPT})
    (sdist_entry,) = json.loads(body)["files"]
    assert sdist_entry["core-metadata"] is False

    # a plain GET gets PEP 503 HTML
    status, headers, body = fetch(server.url + "rich-meta/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    digest = entry["hashes"]["sha256"]
    assert f'href="../../files/rich_meta-0.5-py3-none-any.whl#sha256={digest}"' in page
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in page
    meta_digest = entry["core-metadata"]["sha256"]
    assert f'data-dist-info-metadata="sha256={meta_digest}"' in page
    assert f'data-core-metadata="sha256={meta_digest}"' in page
    assert ">rich_meta-0.5-py3-none-any.whl</a>" in page

    # project list, in both formats
    _, _, body = fetch(server.url, {"Accept": PIP_ACCEPT})
    names = [p["name"] for p in json.loads(body)["projects"]]
    assert names == ["abicore", "abiext", "dynpkg", "rich-meta"]
    _, _, body = fetch(server.url)
    assert '<a href="rich-meta/">Rich.Meta</a>' in body.decode()

    # unknown project, non-normalized name
    assert fetch(server.url + "nope/", {"Accept": PIP_ACCEPT})[0] == 404
    assert fetch(server.base_url + "/files/nope.whl")[0] == 404
    assert fetch(server.base_url + "/../../etc/passwd")[0] == 404
    status, _, body = fetch(server.url + "Rich_Meta/", {"Accept": PIP_ACCEPT})
    assert status == 200 and json.loads(body)["name"] == "rich-meta"


def test_format_switches(index: FixtureIndex) -> None:
    with IndexServer(index.root, json=False) as srv:
        _, headers, _ = fetch(srv.url + "abicore/", {"Accept": PIP_ACCEPT})
        assert headers["Content-Type"].startswith("text/html")
    with IndexServer(index.root, html=False) as srv:
        assert fetch(srv.url + "abicore/", {"Accept": "text/html"})[0] == 406
        _, headers, _ = fetch(srv.url + "abicore/")
        assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "html"),
        ("", "html"),
        ("*/*", "html"),
        ("text/html", "html"),
        (PIP_ACCEPT, "json"),
        (UV_ACCEPT, "json"),
        ("application/vnd.pypi.simple.latest+json", "json"),
        ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", "html"),
        ("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.5", "html"),
        ("application/vnd.pypi.simple.v1+json", "json"),
        ("image/png", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_conditional_requests(tmp_path: Path) -> None:
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("cached", "1.0")
    idx.write()
    with IndexServer(idx.root) as srv:
        url = srv.url + "cached/"
        status, headers, first = fetch(url, {"Accept": PIP_ACCEPT})
        assert status == 200
        etag, last_modified = headers["ETag"], headers["Last-Modified"]
        assert headers["Vary"] == "Accept"

        status, headers, body = fetch(url, {"Accept": PIP_ACCEPT, "If-None-Match": etag})
        assert status == 304 and body == b"" and headers["ETag"] == etag
        status, _, _ = fetch(url, {"Accept": PIP_ACCEPT, "If-Modified-Since": last_modified})
        assert status == 304
        # the HTML variant has its own validator
        status, _, _ = fetch(url, {"If-None-Match": etag})
        assert status == 200
        # files too
        file_url = srv.base_url + "/files/cached-1.0-py3-none-any.whl"
        _, headers, _ = fetch(file_url)
        assert fetch(file_url, {"If-None-Match": headers["ETag"]})[0] == 304
        status, head_headers, body = fetch(file_url, method="HEAD")
        assert status == 200 and body == b""
        assert head_headers["Content-Length"] == headers["Content-Length"]

        # rewriting an unchanged index keeps the validators
        idx.write()
        assert fetch(url, {"Accept": PIP_ACCEPT, "If-None-Match": etag})[0] == 304
        # a new release changes the page: 200 and a new ETag
        idx.wheel("cached", "2.0")
        idx.write()
        status, headers, body = fetch(url, {"Accept": PIP_ACCEPT, "If-None-Match": etag})
        assert status == 200 and headers["ETag"] != etag
        assert json.loads(body)["versions"] == ["1.0", "2.0"]
        # and removing it works as well
        idx.remove("cached-2.0-py3-none-any.whl")
        idx.write()
        assert not (idx.files_dir / "cached-2.0-py3-none-any.whl").exists()
        _, _, body = fetch(url, {"Accept": PIP_ACCEPT})
        assert json.loads(body) == json.loads(first)


def test_fault_injection_and_request_log(index: FixtureIndex) -> None:
    with IndexServer(index.root) as srv:
        url = srv.url + "abicore/"
        srv.faults["/simple/abicore/"] = ("status", 500, 2)
        assert fetch(url)[0] == 500
        assert fetch(url)[0] == 500
        assert fetch(url)[0] == 200
        assert srv.faults == {}
        assert srv.requests == [("GET", "/simple/abicore/")] * 3
        srv.clear()
        assert srv.requests == []

        # a prefix fault, for all requests until removed
        srv.faults["/files/"] = ("status", 503)
        for _ in range(3):
            assert fetch(srv.base_url + "/files/abicore-1.0-py3-none-any.whl")[0] == 503
        assert fetch(url)[0] == 200
        del srv.faults["/files/"]

        srv.faults["/simple/abiext/"] = ("delay", 0.3, 1)
        start = time.monotonic()
        assert fetch(srv.url + "abiext/")[0] == 200
        assert time.monotonic() - start >= 0.3

        srv.faults["/simple/abiext/"] = ("reset", 1)
        with pytest.raises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
            fetch(srv.url + "abiext/")
        assert fetch(srv.url + "abiext/")[0] == 200

        srv.faults["/files/abicore-2.0-py3-none-any.whl"] = ("truncate", 10, 1)
        with pytest.raises(http.client.IncompleteRead):
            fetch(srv.base_url + "/files/abicore-2.0-py3-none-any.whl")
        status, _, body = fetch(srv.base_url + "/files/abicore-2.0-py3-none-any.whl")
        assert status == 200
        assert hashlib.sha256(body).hexdigest() == sha256_file(
            index.files_dir / "abicore-2.0-py3-none-any.whl"
        )
        assert ("GET", "/files/abicore-2.0-py3-none-any.whl") in srv.requests


def test_write_simple_index_function(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "plain", "1.0", requires_python=">=3.7")
    sdist = make_sdist(tmp_path / "dist", "plain", "1.0")
    simple = write_simple_index(
        tmp_path / "repo",
        [wheel, sdist],
        metadata=False,
        yanked={"plain-1.0.tar.gz": ""},
        requires_python={"plain-1.0.tar.gz": ">=3.99"},
    )
    assert simple == tmp_path / "repo" / "simple"
    page = (simple / "plain" / "index.html").read_text()
    assert "data-core-metadata" not in page
    assert 'data-requires-python="&gt;=3.7"' in page
    assert 'data-requires-python="&gt;=3.99" data-yanked=""' in page
    payload = json.loads((simple / "plain" / "index.json").read_text())
    files = {f["filename"]: f for f in payload["files"]}
    assert files["plain-1.0.tar.gz"]["yanked"] is True  # an empty reason is still yanked
    assert files["plain-1.0-py3-none-any.whl"]["core-metadata"] is False
    assert not list((tmp_path / "repo" / "files").glob("*.metadata"))
