"""Time phrases in queries: "last Tuesday", "in early March", "three weeks ago".

`find_time_window` resolves the time a query mentions against a reference moment
``now`` into a `TimeWindow` of UTC epoch seconds, so an index can prefer memories
made inside it; `without_time_words` drops the phrase for lexical matching. English
only, standard library only, deterministic. Days are UTC calendar days; ``today`` is
``now``'s date. A phrase names the latest time it can that is not in the future:

- a day: "yesterday", "this morning", "3 days ago", "on March 14th", "2024-03-14",
  "on Tuesday" or "last Tuesday" (the latest Tuesday before today), "the 14th" (the
  latest 14th before today);
- a week: "last week", "this week" (Monday to Sunday), "the week before last", "over
  the weekend" (the latest Saturday and Sunday), "N weeks ago" (that week and three
  days either side), "the past week" (the last seven days);
- a month: "in March" (asked in February 2025, March 2024), "early/mid/late March"
  (days 1-10, 11-20, 21 to the end), "the start/end of April", "last month", "N
  months ago" (that month and a week either side); a year: "in 2024", "last year";
- a range: "between March 3 and March 10", "from Monday to Wednesday", "since last
  Friday" (to now).

When several phrases occur, the one naming the shortest stretch wins; a phrase inside
a longer one ("March 3" in "between March 3 and March 10") does not count. Windows
under a week get `_SLACK_DAYS` more at each end (a "Tuesday" memory may have been
written late on Monday night). No window ends more than a day after ``now``. Phrases
about the future ("next week", "this Friday" asked on Monday) give none, as do generic
ones ("every Sunday", "May I ask", "the second time", "a day off").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["TimeWindow", "find_time_window", "without_time_words"]

_SLACK_DAYS = 1  # added at each end of windows shorter than a week
_DAY = timedelta(days=1)
Span = tuple[date, date]  # [start, end) in UTC days
Resolver = Callable[[str, datetime], Span | None]  # (lowercased phrase, now) to a span


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A stretch of time a query names: ``[start, end)`` in epoch seconds, and its words."""

    start: float
    end: float
    text: str


_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_WD = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"
_DAYNUM = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?![\d:])"
_NTH = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)\b"
_YEAR = r"(?:19|20)\d\d(?!\d)"
_NUM = r"(?:\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_NUM += r"|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few|several)"
_UNIT = r"(?:hour|day|week|month|year)s?\b"
_APOS = "['\u2019]"  # straight or curly
_PREP = r"(?:(?:on|in|during|over|at|around|back\s+in|throughout)\s+)?"
_PART = r"(?:early|mid|late)(?:-|\s+)|the\s+(?:start|beginning|middle|end|first\s+week"
_PART += r"|last\s+week|first\s+half|second\s+half)\s+of\s+"
_PART_OF = rf"(?:{_MON}(?:,?\s+{_YEAR})?|{_YEAR}|(?:last|this)\s+(?:month|year))"
_REL = r"(?:the\s+)?day\s+before\s+yesterday|yesterday|today|tonight|last\s+night"
_REL += r"|this\s+(?:morning|afternoon|evening)|earlier\s+today|the\s+other\s+day"
_CAL = r"(?:last|previous|this|earlier\s+this)\s+(?:weekend|week|month|year)\b"
_CAL += r"|this\s+past\s+weekend|the\s+(?:weekend|week|month|year)\s+before\s+last|the\s+weekend\b"
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}  # fmt: skip
_VAGUE = {"couple": (2, 2), "few": (2, 4), "several": (3, 6)}
_UNIT_DAYS = {"hour": 1, "day": 1, "week": 7, "month": 30, "year": 365}


def _find(pattern: str, text: str) -> str:
    """What ``pattern`` first matches in ``text`` (the rule that matched ensures one)."""
    found = re.search(pattern, text)
    assert found is not None
    return found.group()


def _month(text: str) -> int:
    """The month named in ``text`` (1-12)."""
    return "janfebmaraprmayjunjulaugsepoctnovdec".index(_find(rf"\b{_MON}", text)[:3]) // 3 + 1


def _year(text: str) -> int | None:
    """The year written in ``text``, if any."""
    found = re.search(rf"\b{_YEAR}", text)
    return int(found.group()) if found else None


def _quantity(text: str) -> tuple[int, int]:
    """How many units ``text`` counts, as a (fewest, most) range; 1 when it says none."""
    for word, counts in _VAGUE.items():
        if word in text:
            return counts
    for word in text.split():
        n = int(word) if word.isdigit() else _NUMBERS.get(word)
        if n:
            return n, n
    return 1, 1


def _add_months(first: date, n: int) -> date:
    """The first day of the month ``n`` months after ``first``'s."""
    year, month = divmod(first.year * 12 + first.month - 1 + n, 12)
    return date(year, month + 1, 1)


def _day(d: date) -> Span:
    return d, d + _DAY


def _at(day: date) -> datetime:
    """Noon UTC of ``day``: a reference moment on that day."""
    return datetime.combine(day, time(12), UTC)


def _latest_date(month: int, day: int, year: int | None, today: date) -> Span | None:
    """That month and day in ``year``, or in the latest year where it is not after today."""
    for y in [year] if year else range(today.year, today.year - 8, -1):
        try:
            found = date(y, month, day)
        except ValueError:
            continue
        if year or found <= today:
            return _day(found)
    return None


# -- resolvers: each turns the phrase one rule matched into a span of days --------------


def _r_date(text: str, now: datetime) -> Span | None:
    if iso := re.search(r"(\d{4})-(\d\d)-(\d\d)", text):
        return _latest_date(int(iso[2]), int(iso[3]), int(iso[1]), now.date())
    day = int(re.sub(r"\D", "", _find(r"\b\d{1,2}(?:st|nd|rd|th)?\b", text)))
    return _latest_date(_month(text), day, _year(text), now.date())


def _r_nth(text: str, now: datetime) -> Span | None:
    today, n = now.date(), int(re.sub(r"\D", "", text))
    for back in range(13):
        first = _add_months(today.replace(day=1), -back)
        if n <= (_add_months(first, 1) - first).days and first.replace(day=n) < today:
            return _day(first.replace(day=n))
    return None


def _r_month(text: str, now: datetime) -> Span | None:
    today, year = now.date(), _year(text)
    if not re.search(rf"\b{_MON}", text):  # a year alone
        return None if year is None else (date(year, 1, 1), date(year + 1, 1, 1))
    month = _month(text)
    if year is None:
        year = today.year if month <= today.month else today.year - 1
        if re.search(r"\blast\b", text) and month == today.month:
            year -= 1
        elif re.search(r"\bthis\b", text) and month > today.month:
            return None
    return date(year, month, 1), _add_months(date(year, month, 1), 1)


def _r_part(text: str, now: datetime) -> Span | None:
    word = _find(r"(?:early|mid|late|start|beginning|middle|end|first|last|second)\b", text)
    target = _find(_PART_OF + "$", text)
    span = _resolve_point(target, now)
    part = None if span is None else _part(span, word, "week" in text)
    if span and part and part[0] > now.date() and re.fullmatch(_MON, target):
        span = _resolve_point(target, _at(span[0] - _DAY))  # late March, asked on March 5
        part = None if span is None else _part(span, word, "week" in text)
    return part


def _part(span: Span, word: str, week: bool) -> Span:
    """The early, mid or late part of a month or year (or its first or last week or half)."""
    start, n = span[0], (span[1] - span[0]).days
    third = 10 if n <= 31 else n // 3
    lo, hi = {
        "early": (0, third), "start": (0, third), "beginning": (0, third),
        "mid": (third, 2 * third), "middle": (third, 2 * third), "late": (2 * third, n),
        "end": (2 * third, n), "first": (0, 7 if week else n // 2), "second": (n // 2, n),
        "last": (n - 7, n),
    }[word]  # fmt: skip
    return start + timedelta(days=lo), start + timedelta(days=hi)


def _unit_back(unit: str, n: int, now: datetime) -> Span:
    """The stretch ``n`` units before ``now``, with some give for "about then"."""
    today = now.date()
    if unit in ("hour", "day"):
        return _day((now - timedelta(hours=n)).date() if unit == "hour" else today - n * _DAY)
    if unit == "week":
        monday = today - timedelta(weeks=n, days=today.weekday())
        return monday - 3 * _DAY, monday + 10 * _DAY
    if unit == "month":
        first = _add_months(today.replace(day=1), -n)
        return first - 7 * _DAY, _add_months(first, 1) + 7 * _DAY
    return date(today.year - n, 1, 1), date(today.year - n + 1, 1, 1)


def _r_ago(text: str, now: datetime) -> Span | None:
    unit, (fewest, most) = _find(r"hour|day|week|month|year", text), _quantity(text)
    return _unit_back(unit, most, now)[0], _unit_back(unit, fewest, now)[1]


def _r_recent(text: str, now: datetime) -> Span | None:
    unit = _find(r"(?:hour|day|week|month|year)(?=s?\b)", text)
    days = _quantity(text)[1] * _UNIT_DAYS[unit]
    return now.date() - timedelta(days=days), now.date() + _DAY


def _r_rel(text: str, now: datetime) -> Span | None:
    today = now.date()
    if "before yesterday" in text:
        return _day(today - 2 * _DAY)
    if "yesterday" in text or "last night" in text:
        return _day(today - _DAY)
    return (today - 7 * _DAY, today) if "other day" in text else _day(today)


def _r_weekday(text: str, now: datetime) -> Span | None:
    today = now.date()
    wd = "montuewedthufrisatsun".index(_find(_WD, text)[:3]) // 3
    monday = today - timedelta(days=today.weekday())
    if "last week" in text:
        return _day(monday - timedelta(days=7 - wd))
    if re.search(r"\bthis\b", text):
        return _day(monday + timedelta(days=wd)) if wd <= today.weekday() else None
    day = today - timedelta(days=(today.weekday() - wd) % 7 or 7)
    return _day(day - 7 * _DAY if "before last" in text else day)


def _r_cal(text: str, now: datetime) -> Span | None:
    today, unit = now.date(), _find(r"week(?:end)?|month|year", text)
    back = 2 if "before last" in text else 1 if re.search(r"\b(?:last|previous)\b", text) else 0
    monday = today - timedelta(days=today.weekday())
    if unit == "weekend":
        if back == 0 and today.weekday() >= 5:
            return monday + 5 * _DAY, monday + 7 * _DAY
        if back == 0 and "this weekend" in text:
            return None  # the coming one
        saturday = monday - 2 * _DAY - timedelta(weeks=max(back, 1) - 1)
        return saturday, saturday + 2 * _DAY
    if unit == "week":
        start, end = monday - timedelta(weeks=back), monday - timedelta(weeks=back - 1)
    elif unit == "month":
        start = _add_months(today.replace(day=1), -back)
        end = _add_months(start, 1)
    else:
        start, end = date(today.year - back, 1, 1), date(today.year - back + 1, 1, 1)
    return start, today + _DAY if "earlier" in text else end


def _r_between(text: str, now: datetime) -> Span | None:
    found = re.search(_BETWEEN, text)
    assert found is not None
    first, last = found.group(1), found.group(2)
    month, year = re.search(rf"\b{_MON}", first), _year(first)
    if month and re.fullmatch(_DAYNUM, last):  # "between March 3 and 10"
        last = f"{month.group()} {last} {year or ''}".strip()
    end = _resolve_point(last, now)
    start = None if end is None else _resolve_point(first, _at(end[1] - _DAY))
    if start is None or end is None or start[0] >= end[1]:
        return None
    return start[0], max(start[1], end[1])


def _r_since(text: str, now: datetime) -> Span | None:
    point = _resolve_point(re.sub(r"^since\s+", "", text), now)
    return None if point is None else (point[0], now.date() + _DAY)


def _r_none(text: str, now: datetime) -> Span | None:
    return None  # "next Tuesday", "every Sunday": no past time, nor is "Sunday" alone meant


# -- rules: what a phrase looks like, and its resolver -----------------------------------

_PLAIN_RULES: list[tuple[str, Resolver]] = [  # phrases that are times wherever they stand
    (rf"\d{{4}}-\d\d-\d\d|(?:{_WD},?\s+)?"
     rf"(?:{_MON}\s+{_DAYNUM}|(?:the\s+)?{_DAYNUM}(?:\s+of)?\s+{_MON})(?:,?\s+{_YEAR})?", _r_date),
    (rf"(?:{_PART}){_PART_OF}", _r_part),
    (rf"{_NUM}\s+{_UNIT}\s+(?:ago|back)", _r_ago),
    (_CAL, _r_cal),
    (_REL, _r_rel),
]  # fmt: skip
_POINT_RULES = [  # times a range can start or end at; the ones added need context in a query
    *_PLAIN_RULES,
    (rf"(?:(?:last|this)\s+)?{_MON}(?:,?\s+{_YEAR})?", _r_month),
    (_YEAR, _r_month),
    (rf"(?:(?:last|this|past)\s+)?{_WD}(?:\s+before\s+last|\s+(?:of\s+)?last\s+week)?",
     _r_weekday),
    (rf"the\s+{_NTH}", _r_nth),
]  # fmt: skip
_POINT = "|".join(f"(?:{pattern})" for pattern, _ in _POINT_RULES)
_BETWEEN = rf"(?:between|from)\s+({_POINT})\s+(?:and|to|until|till|through|-)\s+"
_BETWEEN += rf"({_POINT}|{_DAYNUM})"
_AFTER_NTH = r"(?=\s*(?:$|[?.!,;:)])|\s+(?:for|with|at|in|and|or|but|when|while|i|we|did|was))"
_AFTER_WD = r"(?=\s+(?:morning|afternoon|evening|night|lunch|dinner)\b|\s*(?:$|[?.!,;:]))"
_RULES: list[tuple[re.Pattern[str], Resolver]] = [  # in a query
    (re.compile(rf"\b{_PREP}(?:{core})(?:{_APOS}s)?(?!\w)", re.IGNORECASE), resolve)
    for core, resolve in [
        (rf"(?:next|coming|upcoming|following)\s+(?:{_WD}|{_MON}|{_UNIT}|weekend)", _r_none),
        (rf"(?:an?|every|each|any)\s+(?:[a-z]+\s+)?(?:{_WD}|weekend)", _r_none),
        (rf"since\s+(?:{_POINT})", _r_since),
        (_BETWEEN, _r_between),
        (rf"(?:in|over|during|within|for)?\s*(?:the|this)\s+(?:last|past)\s+(?:{_NUM}\s+)?"
         rf"{_UNIT}", _r_recent),
        *_PLAIN_RULES,
        (rf"(?:(?:in|during|throughout|of|back\s+in)\s+|(?:last|this)\s+){_MON}"
         rf"(?:,?\s+{_YEAR})?(?!{_APOS}s)|{_MON},?\s+{_YEAR}", _r_month),
        (rf"(?:in|during|throughout|of|back\s+in)\s+{_YEAR}", _r_month),
        (rf"(?:(?:last|this|past|on)\s+{_WD}|{_WD}(?=\s+(?:before|of|last))|{_WD}{_AFTER_WD})"
         r"(?:\s+before\s+last|\s+(?:of\s+)?last\s+week)?", _r_weekday),
        (rf"the\s+{_NTH}{_AFTER_NTH}", _r_nth),
    ]
]  # fmt: skip


def _resolve_point(text: str, now: datetime) -> Span | None:
    """The span of a phrase that one point rule matches whole, or None."""
    for pattern, resolve in _POINT_RULES:
        if re.fullmatch(pattern, text, re.IGNORECASE):
            return resolve(text.lower(), now)
    return None


def find_time_window(query: str, now: datetime) -> TimeWindow | None:
    """The time ``query`` refers to, resolved against ``now`` (aware; naive means UTC), or None.

    Among the time phrases in ``query`` the one naming the shortest stretch wins (the
    earliest on a tie). None when the query names no time, or only a future one.
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    found = [(m, resolve) for pattern, resolve in _RULES for m in pattern.finditer(query)]
    found.sort(key=lambda mr: (mr[0].start() - mr[0].end(), mr[0].start()))
    taken: list[tuple[int, int]] = []
    kept: list[tuple[int, int, int, Span]] = []  # (days, start, end, span)
    for match, resolve in found:  # longest first; a phrase inside a taken one is dropped
        if any(match.start() < end and start < match.end() for start, end in taken):
            continue
        taken.append((match.start(), match.end()))
        span = resolve(re.sub(r"\s+", " ", match.group().lower()).strip(), now)
        if span is not None and span[0] <= now.date():
            kept.append(((span[1] - span[0]).days, match.start(), match.end(), span))
    if not kept:
        return None
    _, begin, finish, (start, end) = min(kept, key=lambda k: (k[0], k[1]))
    if (end - start).days < 7:
        start, end = start - _SLACK_DAYS * _DAY, end + _SLACK_DAYS * _DAY
    start_s = datetime.combine(start, time(), UTC).timestamp()
    end_s = min(datetime.combine(end, time(), UTC).timestamp(), now.timestamp() + 86_400.0)
    return TimeWindow(start_s, end_s, query[begin:finish].strip())


def without_time_words(query: str, window: TimeWindow) -> str:
    """``query`` without ``window``'s phrase, for lexical matching (date words only add noise).

    The spaces left around the gap and stray punctuation at the ends are tidied; a
    query that does not hold the phrase comes back as it is.
    """
    at = query.find(window.text)
    if at < 0 or not window.text:
        return query
    rest = f"{query[:at]} {query[at + len(window.text) :]}"
    rest = re.sub(r"\s+([?.!,;:])", r"\1", re.sub(r"\s+", " ", rest))
    rest = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", rest)
    return rest.strip(" ,;:")
