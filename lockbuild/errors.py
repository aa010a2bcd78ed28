"""The errors users read: each carries a one-line message and an exit code."""

from __future__ import annotations


class LockbuildError(Exception):
    """An error whose message is meant for the user, shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(LockbuildError):
    """A requirements file, pyproject.toml or lockfile is malformed."""


class UsageError(LockbuildError):
    """The command line itself is wrong."""

    exit_code = 2


class FetchError(LockbuildError):
    """An index or file could not be read, or its content failed a check."""


class DistError(LockbuildError):
    """A distribution file is invalid or unsafe."""


class InvalidMetadataError(DistError):
    """A release's core metadata (METADATA, PKG-INFO) is malformed: that release cannot
    be used, though others of the same project may be."""


class BuildError(LockbuildError):
    """A PEP 517 hook or a build failed."""


class ResolutionError(LockbuildError):
    """No set of versions satisfies every requirement."""


class StaleError(LockbuildError):
    """A lock file pair is out of date or does not belong together."""


class InstallError(LockbuildError):
    """An installer run failed, or the environment does not match the lockfile after it."""


def shown(text: str, limit: int = 200) -> str:
    """``text`` quoted for an error message, cut short when long."""
    return (
        repr(text)
        if len(text) <= limit
        else repr(text[:limit]) + f" (and {len(text) - limit} more characters)"
    )
