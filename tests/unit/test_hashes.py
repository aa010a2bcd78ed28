"""resolve/hashes: every file of each pinned version (--generate-hashes), an input line's
--hash checked against the version locked, and the file each pin installs (what a pylock
file lists); against an in-memory index client and a graph made by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import InputError
from lockbuild.index.client import IndexClient
from lockbuild.index.listing import make_dist_file
from lockbuild.model import Candidate, DistFile, FileRecord
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.hashes import check_input_hashes, file_hashes, file_records
from lockbuild.spec import IndexOptions, InputRequirement, Origin, Spec

pytestmark = pytest.mark.unit

WHEN = datetime(2024, 1, 2, tzinfo=UTC)


def dist(filename: str, size: int | None = None) -> DistFile:
    made = make_dist_file(filename, f"https://files.example/{filename}")
    assert made is not None
    return replace(made, size=size, upload_time=WHEN)


def digest(filename: str) -> str:
    return filename.encode().hex()[:64].ljust(64, "0")


FILES = {
    "attrs": [
        dist("attrs-23.2.0-py3-none-any.whl", 60),
        dist("attrs-23.2.0.tar.gz"),
        dist("attrs-23.1.0-py3-none-any.whl"),
    ],
    "numpy": [
        dist("numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        dist("numpy-2.0.0-cp311-cp311-win_amd64.whl"),
        dist("numpy-2.0.0.tar.gz"),
    ],
}


class Client:
    """The three questions hashes asks of an index client, answered from ``FILES``; a
    file's sha256 stands for its name."""

    def files(self, name: NormalizedName) -> tuple[DistFile, ...]:
        return tuple(FILES.get(name, ()))

    def version_files(self, name: NormalizedName, version: Version) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files(name) if f.version == version)

    def file_hash(self, file: DistFile) -> str:
        return digest(file.filename)


CLIENT: IndexClient = Client()  # type: ignore[assignment]


def graph_of(*pins: tuple[str, str, str | None, str | None]) -> graphs.DiGraph:
    """Pins as (name, version, the file chosen, a direct URL)."""
    graph = graphs.DiGraph()
    graph.add_node("-r requirements.in", input=True)  # an input file: not a pin
    for name, version, chosen, url in pins:
        key = canonicalize_name(name)
        picked = next((f for f in FILES.get(key, []) if f.filename == chosen), None)
        if picked is None and chosen is not None:
            picked = dist(chosen)
        candidate = Candidate(key, Version(version), url=url, dist=picked)
        graph.add_node(key, pin=graphs.Pin(key, version, candidate))
    return graph


def test_every_file_of_each_pinned_version() -> None:
    graph = graph_of(
        ("attrs", "23.2.0", "attrs-23.2.0-py3-none-any.whl", None),
        ("numpy", "2.0.0", "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl", None),
    )
    found = file_hashes(graph, CLIENT)
    assert found == {
        "attrs": tuple(
            sorted(digest(f) for f in ("attrs-23.2.0-py3-none-any.whl", "attrs-23.2.0.tar.gz"))
        ),
        "numpy": tuple(sorted(digest(f.filename) for f in FILES["numpy"])),
    }


def test_a_direct_reference_has_the_hash_of_its_one_file() -> None:
    graph = graph_of(("local", "1.0", "local-1.0.tar.gz", "https://files.example/local-1.0.tar.gz"))
    assert file_hashes(graph, CLIENT) == {"local": (digest("local-1.0.tar.gz"),)}
    graph = graph_of(("proj", "1.0", None, "file:///src/proj"))
    assert file_hashes(graph, CLIENT) == {"proj": ()}


def _spec(*lines: tuple[str, tuple[str, ...]], constraint: bool = False) -> Spec:
    items = tuple(
        InputRequirement(
            Requirement(text), Origin("requirements.in", n), constraint=constraint, hashes=hashes
        )
        for n, (text, hashes) in enumerate(lines, start=1)
    )
    return Spec(() if constraint else items, items if constraint else (), IndexOptions(), ())


GRAPH = graph_of(("attrs", "23.2.0", "attrs-23.2.0-py3-none-any.whl", None))


@pytest.mark.parametrize(
    ("hashes", "all_files", "ok"),
    [
        ((), False, True),
        ((digest("attrs-23.2.0-py3-none-any.whl"),), False, True),
        ((digest("attrs-23.2.0.tar.gz"),), True, True),
        (("0" * 64, digest("attrs-23.2.0.tar.gz")), False, True),  # any one of them
        ((digest("attrs-23.1.0-py3-none-any.whl"),), False, False),  # another version's file
        (("f" * 64,), True, False),
    ],
)
@pytest.mark.parametrize("constraint", [False, True], ids=["requirement", "constraint"])
def test_input_hashes(hashes: tuple[str, ...], all_files: bool, ok: bool, constraint: bool) -> None:
    spec = _spec(("attrs", hashes), constraint=constraint)
    if ok:
        check_input_hashes(spec, GRAPH, CLIENT, all_files)
        return
    with pytest.raises(InputError) as info:
        check_input_hashes(spec, GRAPH, CLIENT, all_files)
    assert info.value.message == (
        "requirements.in line 1: --hash for attrs: "
        "no file of attrs 23.2.0 (the version locked) has that hash"
    )


def test_a_hash_for_a_project_not_locked_is_not_checked() -> None:
    check_input_hashes(_spec(("numpy", ("f" * 64,))), GRAPH, CLIENT, True)


def test_file_records() -> None:
    graph = graph_of(
        ("attrs", "23.2.0", "attrs-23.2.0-py3-none-any.whl", None),
        ("proj", "1.0", None, "file:///src/proj"),
    )
    assert file_records(graph, CLIENT) == {
        "attrs": FileRecord(
            filename="attrs-23.2.0-py3-none-any.whl",
            url="https://files.example/attrs-23.2.0-py3-none-any.whl",
            sha256=digest("attrs-23.2.0-py3-none-any.whl"),
            size=60,
            upload_time=WHEN,
            is_wheel=True,
        )
    }
