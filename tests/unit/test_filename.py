"""sdist file names read as pip reads them: the project's name known from the page, the
rest of the stem the version; every archive suffix pip unpacks. Real names from real
indexes and requirements files."""

from __future__ import annotations

import pytest
from packaging.version import Version

from lockbuild.dists.filename import parse_sdist, sdist_stem, split_sdist
from lockbuild.index.listing import make_dist_file, quick_name_version

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

KNOWN_PROJECT = [
    # (file name, project from the page, name as written, version as written)
    ("pybbox-0.0.5-alpha.zip", "pybbox", "pybbox", "0.0.5-alpha"),
    ("python-dateutil-2.8.2.tar.gz", "python-dateutil", "python-dateutil", "2.8.2"),
    ("python_dateutil-2.9.0.post0.tar.gz", "python-dateutil", "python_dateutil", "2.9.0.post0"),
    ("Django-1.4.tar.gz", "django", "Django", "1.4"),
    ("zope.interface-3.6.1.tar.gz", "zope-interface", "zope.interface", "3.6.1"),
    ("PyYAML-5.4.1.tar.gz", "pyyaml", "PyYAML", "5.4.1"),
    ("pycrypto-2.6.1.tar.bz2", "pycrypto", "pycrypto", "2.6.1"),
    ("egenix-mx-base-3.2.9.tar.bz2", "egenix-mx-base", "egenix-mx-base", "3.2.9"),
    ("foo-bar-1.0-rc1.tgz", "foo-bar", "foo-bar", "1.0-rc1"),
    ("kombu-2.5.16.tar.gz", "kombu", "kombu", "2.5.16"),
    ("Twisted-8.2.0.tar.bz2", "twisted", "Twisted", "8.2.0"),
    ("pkg-1.0.tar.xz", "pkg", "pkg", "1.0"),
    ("pkg-1.0.tar", "pkg", "pkg", "1.0"),
    ("MySQL-python-1.2.5.zip", "mysql-python", "MySQL-python", "1.2.5"),
]


@pytest.mark.parametrize(("filename", "project", "name", "version"), KNOWN_PROJECT)
def test_split_knowing_the_project(filename: str, project: str, name: str, version: str) -> None:
    assert split_sdist(filename, project) == (name, version)
    parsed = parse_sdist(filename, project)
    assert parsed == (project, Version(version))


def test_legacy_version_normalizes_as_pip_reads_it() -> None:
    assert parse_sdist("pybbox-0.0.5-alpha.zip", "pybbox")[1] == Version("0.0.5a0")
    assert parse_sdist("foo-bar-1.0-rc1.tgz", "foo-bar")[1] == Version("1.0rc1")


NOT_THE_PROJECT = [
    ("pybbox-0.0.5-alpha.zip", "pybbox-0"),
    ("python-dateutil-2.8.2.tar.gz", "python"),
    ("kombu-2.5.16.tar.gz", "celery"),
    ("kombu.tar.gz", "kombu"),
    ("kombu-.tar.gz", "kombu"),
]


@pytest.mark.parametrize(("filename", "project"), NOT_THE_PROJECT)
def test_another_projects_file_or_no_version(filename: str, project: str) -> None:
    found = split_sdist(filename, project)
    # "python" + "dateutil-2.8.2" splits, as in pip, but is no version.
    assert found is None or found[1].startswith("dateutil")
    with pytest.raises(ValueError):
        parse_sdist(filename, project)


UNKNOWN_PROJECT = [
    # Without the page's project (a direct URL, a find-links entry): packaging's rule
    # (the last '-'), unless what follows it is no version.
    ("python-dateutil-2.8.2.tar.gz", ("python-dateutil", "2.8.2")),
    ("pybbox-0.0.5-alpha.zip", ("pybbox", "0.0.5-alpha")),
    ("foo-1.0.tar.gz", ("foo", "1.0")),
    ("foo.tar.gz", None),
    ("-1.0.tar.gz", None),
    ("foo-bar.tar.gz", None),
]


@pytest.mark.parametrize(("filename", "expected"), UNKNOWN_PROJECT)
def test_split_without_the_project(filename: str, expected: tuple[str, str] | None) -> None:
    assert split_sdist(filename) == expected


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("a-1.tar.gz", "a-1"),
        ("a-1.TAR.GZ", "a-1"),
        ("a-1.tgz", "a-1"),
        ("a-1.tar.bz2", "a-1"),
        ("a-1.tbz", "a-1"),
        ("a-1.tar.xz", "a-1"),
        ("a-1.txz", "a-1"),
        ("a-1.tar.lzma", "a-1"),
        ("a-1.zip", "a-1"),
        ("a-1.tar", "a-1"),
        ("a-1.whl", None),
        ("a-1.exe", None),
        ("a-1.egg", None),
        (".tar.gz", None),
    ],
)
def test_archive_suffixes(filename: str, stem: str | None) -> None:
    assert sdist_stem(filename) == stem


def test_index_reads_legacy_names_with_the_page_project() -> None:
    assert quick_name_version("pybbox-0.0.5-alpha.zip", "pybbox") == ("pybbox", "0.0.5-alpha")
    dist = make_dist_file("pybbox-0.0.5-alpha.zip", "https://files/x.zip", project="pybbox")
    assert dist is not None and not dist.is_wheel
    assert (dist.name, dist.version) == ("pybbox", Version("0.0.5a0"))
    bz2 = make_dist_file("pycrypto-2.6.1.tar.bz2", "https://files/y", project="pycrypto")
    assert bz2 is not None and bz2.version == Version("2.6.1")
    assert make_dist_file("kombu-2.5.16.tar.gz", "https://files/z", project="celery") is None


@pytest.mark.parametrize(
    "text", ["", "-", "--", "abc", "a-b", "-a-", "a--b-c", "pybbox-0.0.5-alpha"]
)
def test_dashes_are_every_dash_in_order(text: str) -> None:
    from lockbuild.dists.filename import _dashes

    assert _dashes(text) == [i for i, c in enumerate(text) if c == "-"]
