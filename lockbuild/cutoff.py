"""Upload-time cut-offs (``--exclude-newer``), read the way uv reads them.

- ``2024-08-08``: a bare date includes that whole day, in the local time zone (the
  cut-off is the start of the next day there);
- ``2024-08-08T12:00:00Z`` (any RFC 3339 timestamp with an offset): exact;
- ``2024-08-08T12:00:00`` (no offset): local time, as pip's ``--uploaded-prior-to``;
- ``7 days``, ``1 week 2 days``, ``24h``, ``7 days ago``, ``P7D``, ``PT36H``, ``P1W``: a
  span before the moment of the compile. Years and months are refused (their length
  varies), as uv refuses them.

A file is excluded when it was uploaded at or after the cut-off (uv's comparison).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum

from lockbuild.errors import UsageError


class CutoffKind(Enum):
    DATE = "date"
    TIMESTAMP = "timestamp"
    SPAN = "span"


@dataclass(frozen=True)
class Cutoff:
    """A cut-off as written, and what it means."""

    text: str
    kind: CutoffKind
    day: date | None = None  # DATE
    moment: datetime | None = None  # TIMESTAMP (naive: local time)
    span: timedelta | None = None  # SPAN

    @property
    def relative(self) -> bool:
        return self.kind is CutoffKind.SPAN

    def at(self, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
        """The moment (aware) before which files are kept. ``tz`` is the local time zone
        (default: the system's); ``now`` the moment of the compile (default: ``clock()``)."""
        if self.kind is CutoffKind.DATE:
            assert self.day is not None
            start = datetime.combine(self.day + timedelta(days=1), time())
            return _localize(start, tz)
        if self.kind is CutoffKind.TIMESTAMP:
            assert self.moment is not None
            return self.moment if self.moment.tzinfo else _localize(self.moment, tz)
        assert self.span is not None
        return (now or clock()) - self.span


def clock() -> datetime:
    """Now (aware): what a relative cut-off counts back from, the one clock of a compile
    (looked up when used, so that a test moves time instead of sleeping through it)."""
    return datetime.now(UTC)


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# The spans' patterns as text, compiled (and kept by the re module) when a span is read:
# a date or a timestamp, the usual cut-offs, never needs them.
_ISO_SPAN = (
    r"^P(?:(?P<y>\d+(?:[.,]\d+)?)Y)?(?:(?P<mo>\d+(?:[.,]\d+)?)M)?(?:(?P<w>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<d>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<mi>\d+(?:[.,]\d+)?)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$"
)
_FRIENDLY_PART = r"(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?\s*"
_UNITS: dict[str, str | None] = {}
for _unit, _names in (
    ("weeks", "w wk wks week weeks"),
    ("days", "d day days"),
    ("hours", "h hr hrs hour hours"),
    ("minutes", "m min mins minute minutes"),
    ("seconds", "s sec secs second seconds"),
    (None, "y yr yrs year years mo mos month months"),
):
    for _name in _names.split():
        _UNITS[_name] = _unit
del _unit, _names, _name
_EXPECTED = (
    "expected a date (2024-08-08), an RFC 3339 timestamp (2024-08-08T12:00:00Z) "
    "or a duration (7 days, P7D)"
)


def parse(text: str, where: str = "--exclude-newer") -> Cutoff:
    """A cut-off from its text; a ``UsageError`` naming ``where`` when it is not one."""
    value = text.strip()
    if _DATE.match(value):
        try:
            return Cutoff(text, CutoffKind.DATE, day=date.fromisoformat(value))
        except ValueError:
            raise UsageError(f"{where} {text!r}: not a valid date") from None
    if _TIMESTAMP.match(value):
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{where} {text!r}: not a valid timestamp; {_EXPECTED}") from None
        return Cutoff(text, CutoffKind.TIMESTAMP, moment=moment)
    try:
        span = _span(value, text, where)
    except (OverflowError, ValueError):  # beyond what a timedelta holds
        span = _TOO_LONG
    if span is None:
        raise UsageError(f"{where} {text!r}: {_EXPECTED}")
    if abs(span) >= _TOO_LONG:
        raise UsageError(f"{where} {text[:60]!r}: a span of more than 1000 years")
    return Cutoff(text, CutoffKind.SPAN, span=span)


# No index is older: a longer span is a mistake (and would run past the calendar).
_TOO_LONG = timedelta(days=366 * 1000)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _span(value: str, text: str, where: str) -> timedelta | None:
    body = value.lstrip("+-").strip()
    match = re.match(_ISO_SPAN, body, re.IGNORECASE)
    if match and body.upper() not in ("P", "PT") and not body.upper().endswith("T"):
        parts = match.groupdict()
        if parts["y"] or parts["mo"]:
            raise _no_calendar_units(text, where)
        return timedelta(
            weeks=_number(parts["w"] or "0"),
            days=_number(parts["d"] or "0"),
            hours=_number(parts["h"] or "0"),
            minutes=_number(parts["mi"] or "0"),
            seconds=_number(parts["s"] or "0"),
        )
    if body[:1] in ("P", "p"):
        raise UsageError(f"{where} {text!r}: not a valid ISO 8601 duration; {_EXPECTED}")
    lowered = body.lower()
    if lowered.endswith(" ago"):
        lowered = lowered[: -len(" ago")].rstrip()
    if not lowered or not lowered[0].isdigit():
        return None
    position, total, seen = 0, timedelta(), set()
    friendly_part = re.compile(_FRIENDLY_PART)
    while position < len(lowered):
        part = friendly_part.match(lowered, position)
        if part is None:
            raise UsageError(f"{where} {text!r}: not a valid duration; {_EXPECTED}")
        number, unit_name = part.groups()
        if unit_name not in _UNITS:
            raise UsageError(f"{where} {text!r}: unknown unit {unit_name!r}; {_EXPECTED}")
        unit = _UNITS[unit_name]
        if unit is None:
            raise _no_calendar_units(text, where)
        if unit in seen:
            raise UsageError(f"{where} {text!r}: {unit} given twice")
        seen.add(unit)
        total += timedelta(**{unit: float(number)})
        position = part.end()
    return total


def _no_calendar_units(text: str, where: str) -> UsageError:
    return UsageError(
        f"{where} {text!r}: years and months vary in length; give days instead (e.g. 30 days)"
    )
