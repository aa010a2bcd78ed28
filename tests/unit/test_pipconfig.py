"""pip's configuration as lockbuild reads it (without pip): which files, in which order,
how one file reads, what wins, the constraint files pip install reads, and pip's default
index as its source and its help state it; tables with the files in memory. What the
real pip in lockbuild's venv says is compared in tests/functional/test_pipconfig.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from lockbuild.errors import InputError
from lockbuild.index.pipconfig import (
    Place,
    config_files,
    default_from_help,
    default_from_source,
    index_options,
    parse_config,
    read_config,
    variable_values,
)
from lockbuild.spec import IndexOptions

pytestmark = pytest.mark.unit


LINUX_GLOBAL = ("/etc/xdg/pip/pip.conf", "/etc/pip.conf")


LINUX_USER = ("/h/.pip/pip.conf", "/h/.config/pip/pip.conf")


MAC_SUPPORT = "/h/Library/Application Support/pip"


# (platform, variables, paths that exist, the files pip reads in order)
FILES_CASES = [
    ("linux", {}, set(), (*LINUX_GLOBAL, *LINUX_USER, "/p/pip.conf")),
    (
        "linux",
        {"XDG_CONFIG_DIRS": "/a:/b", "XDG_CONFIG_HOME": "/x"},
        set(),
        ("/a/pip/pip.conf", "/b/pip/pip.conf", "/etc/pip.conf", "/h/.pip/pip.conf")
        + ("/x/pip/pip.conf", "/p/pip.conf"),
    ),
    ("linux", {"XDG_CONFIG_DIRS": " ", "XDG_CONFIG_HOME": ""}, set(), None),  # as unset
    ("linux", {"PIP_CONFIG_FILE": "/dev/null"}, set(), ()),
    ("linux", {"PIP_CONFIG_FILE": ""}, set(), None),  # empty: as unset
    (
        "linux",
        {"PIP_CONFIG_FILE": "/c/pip.conf"},
        {"/c/pip.conf"},  # it exists: the user files are skipped, it is read last
        (*LINUX_GLOBAL, "/p/pip.conf", "/c/pip.conf"),
    ),
    (
        "linux",
        {"PIP_CONFIG_FILE": "/missing.conf"},
        set(),
        (*LINUX_GLOBAL, *LINUX_USER, "/p/pip.conf", "/missing.conf"),
    ),
    (
        "darwin",
        {},
        set(),
        ("/Library/Application Support/pip/pip.conf", "/h/.pip/pip.conf")
        + ("/h/.config/pip/pip.conf", "/p/pip.conf"),
    ),
    (
        "darwin",
        {"XDG_CONFIG_HOME": "/x"},  # not read on macOS
        {MAC_SUPPORT},
        ("/Library/Application Support/pip/pip.conf", "/h/.pip/pip.conf")
        + (f"{MAC_SUPPORT}/pip.conf", "/p/pip.conf"),
    ),
    (
        "win32",
        {"APPDATA": "C:\\U\\AppData\\Roaming", "PROGRAMDATA": "C:\\PD"},
        set(),
        ("C:\\PD\\pip\\pip.ini", "/h\\pip\\pip.ini", "C:\\U\\AppData\\Roaming\\pip\\pip.ini")
        + ("/p\\pip.ini",),
    ),
    ("win32", {"PIP_CONFIG_FILE": "nul"}, set(), ()),
]


# (text of one file, its settings)
PARSE_CASES = [
    ("", {}),
    ("[global]\nindex-url = http://a/simple\n", {"global.index-url": "http://a/simple"}),
    ("[global]\nindex_url: http://a/\n", {"global.index-url": "http://a/"}),  # _ and :
    ("[global]\n--Index-URL = x\n", {"global.index-url": "x"}),  # pip drops "--"
    ("# comment\n[install]\n; other\nno-index = yes\n", {"install.no-index": "yes"}),
    (
        "[global]\nextra-index-url =\n    http://a/\n    http://b/\n",
        {"global.extra-index-url": "\nhttp://a/\nhttp://b/"},  # continuation lines
    ),
    ("[global]\nfind-links = %(x)s\n", {"global.find-links": "%(x)s"}),  # no interpolation
    (
        "[DEFAULT]\ntimeout = 5\n[install]\npre = 1\n",
        {"install.timeout": "5", "install.pre": "1"},  # DEFAULT reaches each section
    ),
]


# (text of one file, the one-line error)
BAD_CASES = [
    ("index-url = x\n", "/c/pip.conf: pip configuration: line 1: a setting before any [section]"),
    (
        "[global]\njust words\n",
        "/c/pip.conf: pip configuration: line 2: not a setting: 'just words'",
    ),
    (
        "[global]\na = 1\na = 2\n",
        "/c/pip.conf: pip configuration: line 3: 'a' set twice in [global]",
    ),
    ("[global]\n[global]\n", "/c/pip.conf: pip configuration: line 2: [global] given twice"),
]


# (files in memory, variables, what a compile takes from them)
GLOBAL, USER, SITE, CHOSEN = "/etc/pip.conf", "/h/.config/pip/pip.conf", "/p/pip.conf", "/c.conf"

PRECEDENCE_CASES = [
    ({}, {}, IndexOptions()),
    ({GLOBAL: "[global]\nindex-url = G\n"}, {}, IndexOptions(index_url="G")),
    (
        {GLOBAL: "[global]\nindex-url = G\n", USER: "[global]\nindex-url = U\n"},
        {},
        IndexOptions(index_url="U"),
    ),
    (
        {USER: "[global]\nindex-url = U\n", SITE: "[global]\nindex-url = S\n"},
        {},
        IndexOptions(index_url="S"),
    ),
    (
        {SITE: "[global]\nindex-url = S\n", CHOSEN: "[global]\nindex-url = C\n"},
        {"PIP_CONFIG_FILE": CHOSEN},
        IndexOptions(index_url="C"),
    ),
    (  # PIP_CONFIG_FILE exists: the user file is not read at all
        {USER: "[global]\nfind-links = /u\n", CHOSEN: "[global]\nindex-url = C\n"},
        {"PIP_CONFIG_FILE": CHOSEN},
        IndexOptions(index_url="C"),
    ),
    (
        {GLOBAL: "[global]\nindex-url = G\n"},
        {"PIP_INDEX_URL": "E", "PIP_CONFIG_FILE": "/dev/null"},  # no file; variables still
        IndexOptions(index_url="E"),
    ),
    (
        {GLOBAL: "[global]\nindex-url = G\n"},
        {"PIP_INDEX_URL": "E"},
        IndexOptions(index_url="E"),
    ),
    (  # a command's section over [global], even from an earlier file
        {GLOBAL: "[install]\nindex-url = I\n", USER: "[global]\nindex-url = U\n"},
        {},
        IndexOptions(index_url="I"),
    ),
    (
        {GLOBAL: "[install]\nindex-url = I\n[download]\nindex-url = D\n"},
        {},
        IndexOptions(index_url="D"),
    ),
    (
        {GLOBAL: "[global]\nindex-url = G\n[freeze]\nindex-url = F\n"},  # not compile's
        {},
        IndexOptions(index_url="G"),
    ),
    (  # empty values are ignored, as pip ignores them
        {GLOBAL: "[global]\nextra-index-url = A B\n[install]\nextra-index-url =\n"},
        {"PIP_INDEX_URL": ""},
        IndexOptions(extra_index_urls=("A", "B")),
    ),
    (  # a later value replaces a list, it does not add to it
        {GLOBAL: "[global]\nfind-links = /a\n", USER: "[global]\nfind-links = /b /c\n"},
        {},
        IndexOptions(find_links=("/b", "/c")),
    ),
    ({}, {"PIP_NO_INDEX": "yes"}, IndexOptions(no_index=True)),
    ({}, {"PIP_NO_INDEX": "On"}, IndexOptions(no_index=True)),
    ({}, {"PIP_NO_INDEX": "0"}, IndexOptions(no_index=False)),
    ({GLOBAL: "[global]\nno-index = true\n"}, {"PIP_NO_INDEX": "off"}, IndexOptions()),
]


def _place(variables: Mapping[str, str]) -> Place:
    return Place({"XDG_CONFIG_DIRS": "/none", **variables}, "/p", platform="linux", home="/h")


SOURCE = """
from pip._internal.utils.misc import something

class PackageIndex:
    ...

PyPI = PackageIndex("https://index.example.org/", file_storage_domain="files.example.org")
TestPyPI = PackageIndex("https://test.example.org/", file_storage_domain="t.example.org")
"""


HELP = """  -i, --index-url <url>       Base URL of the Python Package Index (default
                              https://index.example.org/simple). This should point
  --extra-index-url <url>     Extra URLs of package indexes to use in addition to
"""


@pytest.mark.parametrize(("platform", "variables", "existing", "expected"), FILES_CASES)
def test_the_files_pip_reads_in_order(
    platform: str, variables: dict[str, str], existing: set[str], expected: tuple[str, ...] | None
) -> None:
    place = Place(variables, "/p", platform=platform, home="/h")
    if expected is None:
        expected = (*LINUX_GLOBAL, *LINUX_USER, "/p/pip.conf")
    assert config_files(place, exists=lambda path: path in existing) == expected


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_one_file_as_pip_reads_it(text: str, expected: dict[str, str]) -> None:
    assert parse_config(text, "/c/pip.conf") == expected


@pytest.mark.parametrize(("text", "message"), BAD_CASES)
def test_a_file_that_is_not_pip_configuration_is_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config(text, "/c/pip.conf")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"PIP_INDEX_URL": "http://a/"}, {":env:.index-url": "http://a/"}),
        ({"PIP_NO_INDEX": "1", "HOME": "/h"}, {":env:.no-index": "1"}),
        ({"PIP_VERSION": "1", "PIP_HELP": "1", "PIPX_HOME": "/x"}, {}),
        ({"PIP_Find_Links": "/w"}, {":env:.find-links": "/w"}),
    ],
)
def test_variables_as_pip_reads_them(variables: dict[str, str], expected: dict[str, str]) -> None:
    assert variable_values(variables) == expected


@pytest.mark.parametrize(("files", "variables", "expected"), PRECEDENCE_CASES)
def test_what_wins(
    files: dict[str, str], variables: dict[str, str], expected: IndexOptions
) -> None:
    config = read_config(_place(variables), files.get, lambda path: path in files)
    assert index_options(config) == expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({GLOBAL: "[global]\nconstraint = /g.txt\n"}, "/g.txt"),
        (
            {GLOBAL: "[global]\nconstraint = /g.txt\n[install]\nconstraint = /i.txt /j\n"},
            "/i.txt /j",
        ),
        ({GLOBAL: "[download]\nconstraint = /d.txt\n"}, ""),  # pip install does not read it
    ],
)
def test_the_constraint_files_pip_install_reads(files: dict[str, str], expected: str) -> None:
    config = read_config(_place({"PIP_CONSTRAINT": "/env.txt"}), files.get, lambda p: p in files)
    # The variable is left out: sync joins it with the build file itself.
    assert config.get("constraint", ("global", "install"), variables=False) == expected
    assert config.get("constraint", ("global", "install")) == "/env.txt"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SOURCE, "https://index.example.org/simple"),
        (SOURCE.replace('"', "'"), "https://index.example.org/simple"),
        (
            "PyPI = PackageIndex(\n    'https://i.example/base/',\n)",
            "https://i.example/base/simple",
        ),
        ("PyPI = PackageIndex(URL)", None),  # another shape: ask pip's help instead
        ("PyPI = PackageIndex('ftp://i.example/')", None),
        ("TestPyPI = PackageIndex('https://t.example/')", None),
        ("", None),
        (None, None),
    ],
)
def test_the_default_index_in_pips_source(text: str | None, expected: str | None) -> None:
    assert default_from_source(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HELP, "https://index.example.org/simple"),
        (HELP.replace("(default", "(no default"), None),
        ("--extra-index-url <url> (default https://x.example/)", None),
        ("", None),
        (None, None),
    ],
)
def test_the_default_index_in_pips_help(text: str | None, expected: str | None) -> None:
    assert default_from_help(text) == expected
