"""The --exclude-newer parser: tables of valid and invalid cut-offs (pure code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lockbuild import cutoff
from lockbuild.cutoff import CutoffKind
from lockbuild.errors import UsageError

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
TOKYO = timezone(timedelta(hours=9))
NEW_YORK = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "kind", "tz", "expected"),
    [
        # A bare date includes the whole day, in the local time zone.
        ("2024-08-08", CutoffKind.DATE, UTC, datetime(2024, 8, 9, tzinfo=UTC)),
        ("2024-08-08", CutoffKind.DATE, TOKYO, datetime(2024, 8, 8, 15, tzinfo=UTC)),
        ("2024-08-08", CutoffKind.DATE, NEW_YORK, datetime(2024, 8, 9, 5, tzinfo=UTC)),
        ("2024-12-31", CutoffKind.DATE, UTC, datetime(2025, 1, 1, tzinfo=UTC)),
        ("2024-02-29", CutoffKind.DATE, UTC, datetime(2024, 3, 1, tzinfo=UTC)),
        (" 2024-08-08 ", CutoffKind.DATE, UTC, datetime(2024, 8, 9, tzinfo=UTC)),
        # RFC 3339 timestamps are exact.
        ("2024-08-08T00:00:00Z", CutoffKind.TIMESTAMP, TOKYO, datetime(2024, 8, 8, tzinfo=UTC)),
        (
            "2024-08-08t10:20:30z",
            CutoffKind.TIMESTAMP,
            UTC,
            datetime(2024, 8, 8, 10, 20, 30, tzinfo=UTC),
        ),
        (
            "2024-08-08 10:20:30Z",
            CutoffKind.TIMESTAMP,
            UTC,
            datetime(2024, 8, 8, 10, 20, 30, tzinfo=UTC),
        ),
        (
            "2024-08-08T12:00:00+02:00",
            CutoffKind.TIMESTAMP,
            UTC,
            datetime(2024, 8, 8, 10, tzinfo=UTC),
        ),
        (
            "2024-08-08T12:00:00.250Z",
            CutoffKind.TIMESTAMP,
            UTC,
            datetime(2024, 8, 8, 12, 0, 0, 250000, tzinfo=UTC),
        ),
        # Without an offset: local time (pip's reading).
        ("2024-08-08T12:00:00", CutoffKind.TIMESTAMP, TOKYO, datetime(2024, 8, 8, 3, tzinfo=UTC)),
        # Spans before the moment of the compile.
        ("7 days", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("1 day", CutoffKind.SPAN, UTC, NOW - timedelta(days=1)),
        ("7d", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("7 days ago", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("-7 days", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("1 week", CutoffKind.SPAN, UTC, NOW - timedelta(weeks=1)),
        ("2 weeks, 3 days", CutoffKind.SPAN, UTC, NOW - timedelta(days=17)),
        ("1d12h", CutoffKind.SPAN, UTC, NOW - timedelta(hours=36)),
        ("24 hours", CutoffKind.SPAN, UTC, NOW - timedelta(hours=24)),
        ("90 mins", CutoffKind.SPAN, UTC, NOW - timedelta(minutes=90)),
        ("1.5 hours", CutoffKind.SPAN, UTC, NOW - timedelta(minutes=90)),
        ("30 seconds", CutoffKind.SPAN, UTC, NOW - timedelta(seconds=30)),
        ("7 DAYS", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("P7D", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("p7d", CutoffKind.SPAN, UTC, NOW - timedelta(days=7)),
        ("P1W", CutoffKind.SPAN, UTC, NOW - timedelta(weeks=1)),
        ("PT36H", CutoffKind.SPAN, UTC, NOW - timedelta(hours=36)),
        ("P1DT12H", CutoffKind.SPAN, UTC, NOW - timedelta(hours=36)),
        ("PT1H30M", CutoffKind.SPAN, UTC, NOW - timedelta(minutes=90)),
        ("PT0.5S", CutoffKind.SPAN, UTC, NOW - timedelta(milliseconds=500)),
        ("0 days", CutoffKind.SPAN, UTC, NOW),
    ],
)
def test_valid_cutoffs(text: str, kind: CutoffKind, tz: timezone, expected: datetime) -> None:
    parsed = cutoff.parse(text)
    assert parsed.kind is kind
    assert parsed.text == text
    assert parsed.relative is (kind is CutoffKind.SPAN)
    assert parsed.at(NOW, tz) == expected


def test_a_span_moves_with_the_clock() -> None:
    parsed = cutoff.parse("7 days")
    later = NOW + timedelta(days=3)
    assert parsed.at(later) - parsed.at(NOW) == timedelta(days=3)


def test_a_bare_date_uses_the_system_time_zone_by_default() -> None:
    parsed = cutoff.parse("2024-08-08")
    local = datetime(2024, 8, 9).astimezone()
    assert parsed.at() == local


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a date"),
        ("yesterday", "expected a date"),
        ("2024-13-01", "not a valid date"),
        ("2024-02-30", "not a valid date"),
        ("2024-08-08T25:00:00Z", "not a valid timestamp"),
        ("2024-08-08Tnoon", "expected a date"),
        ("7", "not a valid duration"),
        ("7 fortnights", "unknown unit 'fortnights'"),
        ("7 days 2 days", "days given twice"),
        ("1 year", "years and months"),
        ("6 months", "years and months"),
        ("2y", "years and months"),
        ("P1Y", "years and months"),
        ("P2M", "years and months"),
        ("P", "not a valid ISO 8601 duration"),
        ("PT", "not a valid ISO 8601 duration"),
        ("P1DT", "not a valid ISO 8601 duration"),
        ("P7X", "not a valid ISO 8601 duration"),
        ("days 7", "expected a date"),
    ],
)
def test_invalid_cutoffs(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        cutoff.parse(text)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"--exclude-newer {text!r}")
    assert "\n" not in caught.value.message
