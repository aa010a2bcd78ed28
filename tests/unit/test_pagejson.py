"""PEP 691 pages decoded by msgspec (lockbuild/index/pagejson.py) give exactly what the
standard library's decoding gave: the same listings, the same files, the same errors, as
tables of regular and irregular pages decoded in memory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lockbuild.errors import FetchError
from lockbuild.index import pagejson
from lockbuild.index.page import (
    _JSON_KEYS,
    _CountingKeep,
    _stdlib_json_listings,
    json_listings,
    parse_json_page,
)
from lockbuild.target import current

pytestmark = pytest.mark.unit

PAGE_URL = "https://host.test/simple/demo/"
SHA = "ab" * 32


def page(*entries: Any, **top: Any) -> bytes:
    return json.dumps(
        {"meta": {"api-version": "1.1"}, "name": "demo", "files": list(entries), **top}
    ).encode()


def wheel(version: str, tag: str = "py3-none-any", **fields: Any) -> dict[str, Any]:
    name = f"demo-{version}-{tag}.whl"
    return {"filename": name, "url": f"../../files/{name}", "hashes": {"sha256": SHA}, **fields}


# Pages in PEP 691's shape: decoded by msgspec.
REGULAR = {
    "every field": page(
        wheel(
            "1.0",
            **{
                "requires-python": ">=3.8",
                "yanked": "broken",
                "core-metadata": {"sha256": SHA},
                "dist-info-metadata": {"sha256": SHA},
                "upload-time": "2024-01-02T03:04:05.678901Z",
                "size": 1234,
                "gpg-sig": False,
                "data-dist-info-metadata": True,
            },
        ),
        {"filename": "demo-1.0.tar.gz", "url": "/files/demo-1.0.tar.gz", "hashes": {}},
    ),
    "missing and null fields": page(
        {"filename": "demo-2.0.tar.gz", "url": "demo-2.0.tar.gz"},
        wheel("2.0", hashes=None, yanked=None, **{"requires-python": None}),
        wheel("2.1", **{"core-metadata": None, "dist-info-metadata": True}),
        wheel("2.2", **{"core-metadata": True, "yanked": True}),
        wheel("2.3", **{"core-metadata": False, "yanked": False}),
    ),
    # JSON escapes in a name (\u002d is "-") and a url with a backslash in it.
    "escapes and odd names": page(
        {"filename": "demo-3.0-py3-none-any.whl", "url": "demo\\3.0-py3-none-any.whl"},
        {"filename": "demo-3.1.tar.gz", "url": "x"},
        {"filename": "demo-3.3-py3-none-win32.whl", "url": "w"},
        {"filename": "../demo-3.2.tar.gz", "url": "y"},
        {"filename": "demo-notaversion!.tar.gz", "url": "z"},
        {"filename": "other-1.0.tar.gz", "url": "o"},
        {"filename": "readme.txt", "url": "r"},
        {"url": "no-name"},
    )
    .replace(b"demo-3.1.tar.gz", b"demo\\u002d3.1.tar.gz")
    .replace(b"demo-3.3-py3-none-win32", b"demo-3.3-py3-none-\\u0077in32"),
    "wheels for other targets": page(
        wheel("4.0", "cp27-cp27m-win32"),
        wheel("4.0", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"),
        wheel("4.0", "cp311-cp311-macosx_11_0_arm64"),
        wheel("4.0"),
        wheel("4.0", "not-a-valid-tag-triple-here"),
    ),
    "no files": page(),
    # Digests kept as 32 bytes only when they read back the same; URLs cut before the
    # file name only after a "/".
    "hashes and urls of every form": page(
        wheel("7.0", hashes={"sha256": SHA.upper()}),
        wheel("7.1", hashes={"sha256": "ab " * 21 + "a"}),
        wheel("7.2", hashes={"sha256": "zz" * 32}),
        wheel("7.3", hashes={"sha256": SHA[:62]}),
        wheel("7.4", hashes={"md5": "00" * 16}),
        wheel("7.5", hashes={"sha256": "01" * 32}),
        wheel("7.6", url="filesdemo-7.6-py3-none-any.whl"),
        wheel("7.7", url="demo-7.7-py3-none-any.whl"),
        wheel("7.8", url="/demo-7.8-py3-none-any.whl?x=1"),
    ),
    # Only the sha256 of a hashes object is read: other algorithms, of any type, pass.
    "hashes with other algorithms": page(
        wheel("8.0", hashes={"md5": 5, "sha256": SHA, "blake2b_256": ["ab"]}),
        wheel("8.1", hashes={"sha256": None}),
        wheel("8.2", hashes={}),
        wheel("8.3", hashes={"md5": "00" * 16}),
    ),
    "sizes": page(wheel("6.0", size=0), wheel("6.1", size=-5), wheel("6.2", size=None)),
    "absolute and foreign urls": page(
        wheel("5.0", url="https://cdn.test/files/demo-5.0-py3-none-any.whl"),
        wheel("5.1", url="file:///etc/demo-5.1-py3-none-any.whl"),
        wheel("5.2", url="http://[::1/broken"),
    ),
}

# Pages msgspec's typed decoding refuses: the standard library decides, as before.
IRREGULAR = {
    "entry that is not an object": page(wheel("1.0"), "demo-1.1.tar.gz", 7, None),
    "filename that is not a string": page(wheel("1.0"), {"filename": 12, "url": "x"}),
    "hash that is not a string": page(wheel("1.0", hashes={"sha256": 12})),
    "yanked that is a number": page(wheel("1.0", yanked=1)),
    "size that is a string": page(wheel("1.0", size="12")),
    "size that is a boolean": page(wheel("1.0", size=True)),
    "url that is a list": page(wheel("1.0", url=["a"])),
    "files not a list": json.dumps({"files": {"a": 1}}).encode(),
    "no files key": json.dumps({"projects": []}).encode(),
    "not json": b"<html>nope</html>",
    "not utf-8": b'{"files": [{"filename": "demo-1.0.tar.gz\xff", "url": "x"}]}',
    "top level a list": b"[]",
    "truncated": page(wheel("1.0"))[:-5],
}


def outcome(fn: Any, body: bytes, keep: Any) -> Any:
    """Listings, their files, and the wheels dropped; or the error message."""
    counting = _CountingKeep(keep) if keep is not None else None
    try:
        listings = fn(body, PAGE_URL, counting, "demo")
    except FetchError as exc:
        return ("error", str(exc))
    return (
        [(i.filename, i.name, i.version, i.version_text, i.upload_time) for i in listings],
        [i.dist() for i in listings],
        counting.dropped if counting is not None else None,
    )


@pytest.mark.parametrize("with_filter", [False, True])
@pytest.mark.parametrize("name", sorted(REGULAR) + sorted(IRREGULAR))
def test_same_listings_as_the_standard_library(name: str, with_filter: bool) -> None:
    body = REGULAR.get(name) or IRREGULAR[name]
    keep = current().wheel_name_filter() if with_filter else None
    fast = outcome(json_listings, body, keep)
    assert fast == outcome(_stdlib_json_listings, body, keep)


@pytest.mark.parametrize("name", sorted(REGULAR))
def test_regular_pages_take_the_fast_path(name: str) -> None:
    entries = pagejson.decode_files(REGULAR[name])
    assert entries is not None
    assert len(entries) == len(json.loads(REGULAR[name])["files"])


@pytest.mark.parametrize("name", sorted(IRREGULAR))
def test_irregular_pages_fall_back(name: str) -> None:
    assert pagejson.decode_files(IRREGULAR[name]) is None


def test_entry_has_a_field_for_every_kept_key() -> None:
    """A key page.py starts keeping must be decoded on the fast path too."""
    fields = set(pagejson.Entry.__struct_fields__)
    assert {key.replace("-", "_") for key in _JSON_KEYS} <= fields


def test_fast_path_reads_every_field() -> None:
    entries = pagejson.decode_files(REGULAR["every field"])
    assert entries is not None
    entry = entries[0]
    assert (entry.filename, entry.hashes, entry.requires_python, entry.yanked) == (
        "demo-1.0-py3-none-any.whl",
        pagejson.Hashes(sha256=SHA),
        ">=3.8",
        "broken",
    )
    assert entry.core_metadata == entry.dist_info_metadata == {"sha256": SHA}
    assert entry.upload_time == "2024-01-02T03:04:05.678901Z"
    [dist] = parse_json_page(page(wheel("1.0", yanked="broken")), PAGE_URL)
    assert dist.sha256 == SHA and dist.is_yanked


def test_bad_page_error_is_unchanged() -> None:
    with pytest.raises(FetchError, match=r"host\.test/simple/demo/: invalid PEP 691 JSON page"):
        json_listings(b"{", PAGE_URL)


@pytest.mark.parametrize("needle", ["-1.0", "-2.0", "demo", "-9.9"])
@pytest.mark.parametrize("name", sorted(REGULAR))
def test_files_named_are_the_decoded_files_so_named(name: str, needle: str) -> None:
    entries = pagejson.decode_files(REGULAR[name])
    assert entries is not None
    expected = [e for e in entries if e.filename and needle in e.filename]
    assert pagejson.files_named(REGULAR[name], needle) == expected


@pytest.mark.parametrize("name", sorted(IRREGULAR))
def test_files_named_falls_back_where_the_named_entry_is_irregular(name: str) -> None:
    # Every irregular page's fault is in (or around) its 1.0 wheel, or in the page itself.
    assert pagejson.files_named(IRREGULAR[name], "-1.0") is None


# Wheel names that test each step of _CountingKeep.select: platform fields the target
# has, has not, has in another case or among compressed tags; names with too few fields
# (the filter keeps those as malformed); non-wheels and entries without a name.
SELECT_NAMES = [
    "demo-1.0-py3-none-any.whl",
    "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "demo-1.0-cp311-cp311-MANYLINUX_2_17_X86_64.whl",
    "demo-1.0-cp311-cp311-win_amd64.whl",
    "demo-1.0-cp311-cp311-macosx_11_0_arm64.macosx_10_9_x86_64.whl",
    "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl",
    "demo-1.0-cp27-cp27m-manylinux1_x86_64.whl",
    "demo-1.0-1-cp311-cp311-win32.whl",
    "demo-win32.whl",
    "demo-1.0-win32.whl",
    "-py3-none-win32.whl",
    "x-py3-none-win32.whl",
    "demo-1.0.tar.gz",
    "demo-1.0-py3-none-win32.zip",
    None,
]


@pytest.mark.parametrize(
    "tags",
    [
        "current",
        "cp311-cp311-win_amd64,py3-none-any",
        "cp312-cp312-macosx_11_0_arm64,py3-none-any",
    ],
)
def test_select_keeps_what_the_filter_keeps_and_counts_the_rest(tags: str) -> None:
    from packaging.tags import parse_tag

    from lockbuild.target import WheelNameFilter

    if tags == "current":
        wheel_filter = current().wheel_name_filter()
    else:
        wheel_filter = WheelNameFilter([t for text in tags.split(",") for t in parse_tag(text)])
    entries = [pagejson.Entry(filename=name) for name in SELECT_NAMES * 2]
    one_by_one = _CountingKeep(wheel_filter)
    expected = [
        e
        for e in entries
        if e.filename is None or not e.filename.endswith(".whl") or one_by_one(e.filename)
    ]
    selecting = _CountingKeep(wheel_filter)
    assert list(selecting.select(entries)) == expected
    assert selecting.dropped == one_by_one.dropped
    assert 0 < len(expected) < len(entries)


URL = "https://files.host.test/packages/ab/cd/0123/demo-1.0-py3-none-any.whl"
NAME = "demo-1.0-py3-none-any.whl"
PACK_TABLE = [
    # (filename, url, sha256): a kept listing's fields, packed or left as they are
    (NAME, URL, SHA),
    (NAME, URL, SHA.upper()),  # upper case: kept as text, read back as it was
    (NAME, URL, "ab " * 21 + "a"),  # 64 characters that bytes.fromhex would accept
    (NAME, URL, "zz" * 32),
    (NAME, URL, "ab" * 31),
    (NAME, URL, ""),
    (NAME, URL, None),
    (NAME, URL, 12),  # the standard library's path keeps what the page gave
    (NAME, "https://files.host.test/x" + NAME, SHA),  # no "/" before the name
    (NAME, "https://files.host.test/" + NAME + "#sha256=" + SHA, SHA),
    (NAME, NAME, SHA),  # a relative URL that is the name alone
    (NAME, "/" + NAME, SHA),
    (NAME, ["a"], SHA),
    ("", "https://files.host.test/", SHA),
]


@pytest.mark.parametrize(("filename", "url", "sha"), PACK_TABLE)
def test_packed_fields_read_back_as_they_were(filename: Any, url: Any, sha: Any) -> None:
    from lockbuild.index.page import _JsonFile, _pack, _unpack

    fields = (filename, url, sha, ">=3.8", False, None, None, "2024-01-02T03:04:05Z", 12)
    packed = _pack(fields)
    assert _unpack(packed) == fields
    assert [type(v) for v in _unpack(packed)] == [type(v) for v in fields]
    assert _JsonFile(fields, (PAGE_URL, "demo")).fields == fields
    if sha == SHA:
        assert packed[2] == bytes.fromhex(SHA)  # 32 bytes, not 64 characters
    if isinstance(url, str) and filename and url.endswith("/" + filename):
        assert packed[1] == url[: -len(filename)]


def test_packed_listings_make_the_same_files() -> None:
    body = page(
        wheel("1.0", url=URL),
        wheel("1.1", url="https://files.host.test/x/demo-1.1-py3-none-any.whl#sha256=" + SHA),
        wheel("1.2", hashes={"sha256": SHA.upper()}),
    )
    [first, second, third] = [item.dist() for item in json_listings(body, PAGE_URL)]
    assert first is not None and (first.url, first.sha256) == (URL, SHA)
    assert second is not None and second.url.endswith("/x/demo-1.1-py3-none-any.whl")
    assert third is not None and third.sha256 == SHA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.0", "1.0"),
        ("1.0.0", "1.0.0"),
        ("2024.1b2", "2024.1b2"),
        ("1.0-1", "1.0.post1"),
        ("v3", "3"),
        ("not a version", None),
        ("1.0-alpha-beta", None),
        ("", None),
    ],
)
def test_parsed_version_is_packaging_s_once_per_text(text: str, expected: str | None) -> None:
    from packaging.version import Version

    from lockbuild.index.listing import parsed_version

    found = parsed_version(text)
    if expected is None:
        assert found is False
    else:
        assert found == Version(expected)
        assert str(found) == str(Version(text))
        assert parsed_version(text) is found  # one object for every page that has it
