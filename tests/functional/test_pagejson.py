"""A compile over the fixture index's PEP 691 JSON pages locks what its HTML pages lock
(the decoding itself, against the standard library's, is in tests/unit/test_pagejson.py)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, write


def test_json_and_html_pages_lock_the_same(tmp_path: Path) -> None:
    """The same fixture index served as JSON only and as HTML only: identical locks."""
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0", requires_dist=["beta>=1"], requires_python=">=3.8")
    idx.wheel("alpha", "2.0", requires_dist=["beta>=1"], requires_python=">=3.99")
    idx.wheel("beta", "1.0")
    idx.wheel("beta", "1.1")
    idx.yank("beta-1.1-py3-none-any.whl", "broken")
    idx.sdist("gamma", "1.0", requires_dist=["beta"])
    idx.write()
    env = isolated_env(tmp_path / "home")
    locks = []
    for fmt in ("json", "html"):
        work = tmp_path / fmt
        write(work / "requirements.in", "alpha\ngamma\n")
        with IndexServer(idx.root, json=fmt == "json", html=fmt == "html") as srv:
            lockbuild(compile_args(srv.url, work / "cache", "--generate-hashes"), env, work)
            served = srv.url
        # The header records a digest of the options, the index URL (its port) among them.
        text = (work / "requirements.txt").read_text().replace(served, "INDEX/")
        locks.append([line for line in text.splitlines() if not line.startswith("# lockbuild-")])
    body = "\n".join(locks[0])
    assert "alpha==1.0" in body and "beta==1.0" in body and "--hash=sha256:" in body
    assert locks[0] == locks[1]
