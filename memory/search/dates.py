"""Calendar dates a search query names ("on 9 February, 2023", "May 3, 2023", "in June 2022", "in October",
"in 2023", "2023-02-09"), as windows that a memory's created_at may fall in.

Hybrid search lifts the rows written inside such a window (see `memory.search.Fusion.date_weight`): a memory is
usually written when the thing it records happened or was talked about, so "what did I cook on May 3?" is most
likely answered by a row created that day. Only English month names; dates are compared in UTC.

Also whether a query asks when something happened (`asks_when`) and whether a text mentions a time
(`mentions_time`): hybrid search lifts such rows for such queries (`memory.search.Fusion.time_weight`).
"""

import datetime as dt
import re
from dataclasses import dataclass

_MONTH_NUMBERS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d\d)"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    ("day month year", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)),
    ("month day year", re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE)),
    ("month year", re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)),
    # A month or a year alone only after a preposition: "may" alone is mostly a verb.
    ("month", re.compile(rf"\b(?:in|during|of|since|last|this)\s+{_MONTH}(?!\w)", re.IGNORECASE)),
    ("year", re.compile(rf"\b(?:in|during|of|since)\s+{_YEAR}\b", re.IGNORECASE)),
]


@dataclass(frozen=True)
class DateWindow:
    """[start, end) in UTC dates; `month` alone (start and end None) means that month of any year."""

    start: dt.date | None
    end: dt.date | None
    month: int | None = None

    def contains(self, moment: dt.datetime) -> bool:
        day = moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()
        if self.start is None or self.end is None:
            return day.month == self.month
        return self.start <= day < self.end


def _month_window(year: int, month: int) -> DateWindow:
    following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return DateWindow(dt.date(year, month, 1), following)


def _window(kind: str, groups: tuple[str, ...]) -> DateWindow | None:
    try:
        if kind == "iso":
            day = dt.date(int(groups[0]), int(groups[1]), int(groups[2]))
        elif kind == "day month year":
            day = dt.date(int(groups[2]), _MONTH_NUMBERS[groups[1].lower()], int(groups[0]))
        elif kind == "month day year":
            day = dt.date(int(groups[2]), _MONTH_NUMBERS[groups[0].lower()], int(groups[1]))
        elif kind == "month year":
            return _month_window(int(groups[1]), _MONTH_NUMBERS[groups[0].lower()])
        elif kind == "month":
            return DateWindow(None, None, _MONTH_NUMBERS[groups[0].lower()])
        else:
            year = int(groups[0])
            return DateWindow(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    except ValueError:  # "31 February"
        return None
    # A day either side: the query's day is in the writer's time zone, created_at in UTC.
    return DateWindow(day - dt.timedelta(days=1), day + dt.timedelta(days=2))


def query_date_windows(query: str) -> list[DateWindow]:
    """The dates `query` names, most precise first; a span already read as a more precise date is not re-read."""
    windows: list[DateWindow] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(query):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            window = _window(kind, match.groups())
            if window is not None:
                taken.append(match.span())
                windows.append(window)
    return windows


def in_any(windows: list[DateWindow], moment: dt.datetime) -> bool:
    return any(window.contains(moment) for window in windows)


# "When did …?", "What year …?", "How long ago …?": the answer is a time, so rows that mention one are likelier.
_ASKS_WHEN = re.compile(
    r"^\W*(?:when|since when|how long ago|(?:in\s+)?(?:what|which)\s+(?:date|day|week|weekend|month|year|time))\b",
    re.IGNORECASE,
)
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_UNIT = rf"(?:morning|afternoon|evening|night|week|weekend|month|year|spring|summer|fall|autumn|winter|{_WEEKDAY})"
# Month names but "may" (mostly a verb), weekdays, years, and relative times ("yesterday", "last week", "2 days ago").
_MENTIONS_TIME = re.compile(
    rf"\b(?:yesterday|today|tonight|tomorrow|ago|recently|lately|(?:last|next|this|past)\s+{_UNIT}s?|{_WEEKDAY}s?"
    r"|jan(?:uary)?|feb(?:ruary)?|march|april|june|july|aug(?:ust)?|sept(?:ember)?|oct(?:ober)?|nov(?:ember)?"
    r"|dec(?:ember)?|(?:19|20)\d\d)\b",
    re.IGNORECASE,
)


def asks_when(query: str) -> bool:
    """Whether the query asks for a time ("When did we move?", "What year was she born?")."""
    return _ASKS_WHEN.search(query) is not None


def mentions_time(text: str) -> bool:
    """Whether the text mentions a time: a date, a weekday, a month (but "may") or a relative time ("last week")."""
    return _MENTIONS_TIME.search(text) is not None
