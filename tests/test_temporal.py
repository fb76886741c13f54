"""Time phrases in queries resolved to windows: every phrase family, non-time words, edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from nucleusmem.recall import _temporal
from nucleusmem.recall._temporal import TimeWindow, find_time_window, without_time_words

NOW = datetime(2024, 5, 2, 15, 0, tzinfo=UTC)  # a Thursday; 2024 is a leap year
SLACK = timedelta(days=_temporal._SLACK_DAYS)


def _show(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment.time() == time() else f"{moment:%Y-%m-%d %H:%M}"


def window(query: str, now: datetime = NOW) -> tuple[str, str] | None:
    """The window found for ``query`` as readable UTC bounds ("2024-04-30", ...), or None."""
    found = find_time_window(query, now)
    if found is None:
        return None
    start, end = (datetime.fromtimestamp(t, UTC) for t in (found.start, found.end))
    return _show(start), _show(end)


def days(first: str, count: int = 1, now: datetime = NOW) -> tuple[str, str]:
    """The expected window for ``count`` days from ``first``: slack if under a week, capped."""
    start = datetime.combine(date.fromisoformat(first), time(), UTC)
    end = start + timedelta(days=count)
    if count < 7:
        start, end = start - SLACK, end + SLACK
    return _show(start), _show(min(end, now + timedelta(days=1)))


CAP = _show(NOW + timedelta(days=1))  # no window ends later
SUNDAY = datetime(2024, 5, 5, 9, tzinfo=UTC)
JAN_3, JAN_15, JAN_20 = (datetime(2025, 1, d, tzinfo=UTC) for d in (3, 15, 20))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I eat yesterday?", days("2024-05-01")),
        ("What did I say this morning?", days("2024-05-02")),
        ("what happened today", days("2024-05-02")),
        ("Where did I go last night?", days("2024-05-01")),
        ("the day before yesterday", days("2024-04-30")),
        ("What did I do 3 days ago?", days("2024-04-29")),
        ("Who called three days ago?", days("2024-04-29")),
        ("what did I buy a day ago", days("2024-05-01")),
        ("a few days ago", days("2024-04-28", 3)),
        ("an hour ago", days("2024-05-02")),
        ("the other day", days("2024-04-25", 7)),
    ],
)
def test_relative_days(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I cook last Tuesday?", days("2024-04-30")),
        ("What did I cook on Tuesday?", days("2024-04-30")),
        ("What did I cook Tuesday?", days("2024-04-30")),
        ("what did I cook on Tuesday evening", days("2024-04-30")),
        ("this past Monday", days("2024-04-29")),
        ("last Thursday", days("2024-04-25")),  # today is Thursday: the one before
        ("last Friday", days("2024-04-26")),
        ("this Tuesday", days("2024-04-30")),
        ("on Tuesday last week", days("2024-04-23")),
        ("Tuesday of last week", days("2024-04-23")),
        ("the Tuesday before last", days("2024-04-23")),
    ],
)
def test_weekdays(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I do on March 14th?", days("2024-03-14")),
        ("on march 14", days("2024-03-14")),
        ("on 14 March", days("2024-03-14")),
        ("on the 14th of March", days("2024-03-14")),
        ("on Thursday, March 14th", days("2024-03-14")),
        ("on March 14, 2023", days("2023-03-14")),
        ("on Sept. 3rd", days("2023-09-03")),  # September 2024 is still to come
        ("on Jan 5", days("2024-01-05")),
        ("on May 2nd", days("2024-05-02")),  # today
        ("on May 3rd", days("2023-05-03")),  # tomorrow: so last year's
        ("on 2024-03-14", days("2024-03-14")),
        ("What happened 2023-12-31?", days("2023-12-31")),
        ("What did I do on the 14th?", days("2024-04-14")),
        ("on the 1st", days("2024-05-01")),
        ("on the 2nd", days("2024-04-02")),  # today is the 2nd: the one before
        ("on the 31st", days("2024-03-31")),  # April has no 31st
        ("what did I cook the 30th", days("2024-04-30")),
    ],
)
def test_dates(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


def test_a_leap_day_is_the_latest_that_existed() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert window("on February 29th", now) == days("2024-02-29", now=now)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did we decide last week?", days("2024-04-22", 7)),
        ("the previous week", days("2024-04-22", 7)),
        ("this week", days("2024-04-29", 7)),
        ("earlier this week", days("2024-04-29", 4)),
        ("the week before last", days("2024-04-15", 7)),
        ("what did we decide two weeks ago", ("2024-04-12", "2024-04-25")),  # ±3 days
        ("a couple of weeks ago", ("2024-04-12", "2024-04-25")),
        ("a week ago", ("2024-04-19", "2024-05-02")),
        ("5 weeks ago", ("2024-03-22", "2024-04-04")),
        ("over the past week", ("2024-04-25", "2024-05-03")),
        ("in the last 3 days", days("2024-04-29", 4)),
    ],
)
def test_weeks(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "now", "expected"),
    [
        ("What did I do over the weekend?", NOW, days("2024-04-27", 2)),
        ("last weekend", NOW, days("2024-04-27", 2)),
        ("at the weekend", NOW, days("2024-04-27", 2)),
        ("this past weekend", NOW, days("2024-04-27", 2)),
        ("the weekend before last", NOW, days("2024-04-20", 2)),
        # asked on a Sunday, "the weekend" is the current one, "last weekend" the one before
        ("over the weekend", SUNDAY, days("2024-05-04", 2, now=SUNDAY)),
        ("last weekend", SUNDAY, days("2024-04-27", 2)),
    ],
)
def test_weekends(query: str, now: datetime, expected: tuple[str, str]) -> None:
    assert window(query, now) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I buy last month?", ("2024-04-01", "2024-05-01")),
        ("the previous month", ("2024-04-01", "2024-05-01")),
        ("this month", ("2024-05-01", CAP)),
        ("earlier this month", days("2024-05-01", 2)),
        ("the month before last", ("2024-03-01", "2024-04-01")),
        ("three months ago", ("2024-01-25", "2024-03-08")),  # February, a week either side
        ("a month ago", ("2024-03-25", CAP)),  # April, a week either side
        ("in the past month", ("2024-04-02", "2024-05-03")),
        ("Which city did I travel to in March?", ("2024-03-01", "2024-04-01")),
        ("in May", ("2024-05-01", CAP)),
        ("in June", ("2023-06-01", "2023-07-01")),  # June 2024 is still to come
        ("during Sept.", ("2023-09-01", "2023-10-01")),
        ("in Feb", ("2024-02-01", "2024-03-01")),
        ("last March", ("2024-03-01", "2024-04-01")),
        ("last May", ("2023-05-01", "2023-06-01")),  # this May is not "last May"
        ("this March", ("2024-03-01", "2024-04-01")),
        ("in March 2023", ("2023-03-01", "2023-04-01")),
        ("What happened March 2022?", ("2022-03-01", "2022-04-01")),
    ],
)
def test_months(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "now", "expected"),
    [
        ("in December", JAN_15, ("2024-12-01", "2025-01-01")),
        ("last month", JAN_15, ("2024-12-01", "2025-01-01")),
        ("in January", JAN_15, ("2025-01-01", "2025-01-16")),
        ("in March", datetime(2025, 2, 10, tzinfo=UTC), ("2024-03-01", "2024-04-01")),
        ("on December 24th", JAN_3, days("2024-12-24", now=JAN_3)),
        ("late December", JAN_3, ("2024-12-21", "2025-01-01")),
        ("two months ago", JAN_20, ("2024-10-25", "2024-12-08")),
        ("last year", JAN_20, ("2024-01-01", "2025-01-01")),
    ],
)
def test_the_year_wraps(query: str, now: datetime, expected: tuple[str, str]) -> None:
    assert window(query, now) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Which city did I travel to in early March?", ("2024-03-01", "2024-03-11")),
        ("in mid-April", ("2024-04-11", "2024-04-21")),
        ("mid April", ("2024-04-11", "2024-04-21")),
        ("late February", ("2024-02-21", "2024-03-01")),  # to the end, 29th included
        ("at the start of April", ("2024-04-01", "2024-04-11")),
        ("at the beginning of March", ("2024-03-01", "2024-03-11")),
        ("the middle of March", ("2024-03-11", "2024-03-21")),
        ("at the end of April", ("2024-04-21", "2024-05-01")),
        ("the first week of April", ("2024-04-01", "2024-04-08")),
        ("the last week of March", ("2024-03-25", "2024-04-01")),
        ("the first half of March", ("2024-03-01", "2024-03-16")),
        ("late last month", ("2024-04-21", "2024-05-01")),
        ("in late May", ("2023-05-21", "2023-06-01")),  # late May 2024 is still to come
        ("in early May", ("2024-05-01", CAP)),
        ("early March 2023", ("2023-03-01", "2023-03-11")),
        ("in early 2024", ("2024-01-01", "2024-05-02")),  # the first third
        ("in late 2023", ("2023-08-31", "2024-01-01")),  # the last third of the year
    ],
)
def test_parts_of_months_and_years(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I do in 2024?", ("2024-01-01", CAP)),
        ("in 2023", ("2023-01-01", "2024-01-01")),
        ("back in 2019", ("2019-01-01", "2020-01-01")),
        ("last year", ("2023-01-01", "2024-01-01")),
        ("this year", ("2024-01-01", CAP)),
        ("two years ago", ("2022-01-01", "2023-01-01")),
    ],
)
def test_years(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("between March 3 and March 10", ("2024-03-03", "2024-03-11")),
        ("between March 3rd and 10th", ("2024-03-03", "2024-03-11")),
        ("from March to April", ("2024-03-01", "2024-05-01")),
        ("from Monday to Wednesday", days("2024-04-29", 3)),
        ("between last Monday and yesterday", days("2024-04-29", 3)),
        ("since last Friday", ("2024-04-26", "2024-05-03")),
        ("What have I cooked since March?", ("2024-03-01", "2024-05-03")),
        ("since 2023", ("2023-01-01", "2024-05-03")),
    ],
)
def test_ranges(query: str, expected: tuple[str, str]) -> None:
    assert window(query) == expected


def test_a_range_across_new_year_runs_forward() -> None:
    now = datetime(2025, 2, 1, tzinfo=UTC)
    assert window("between December 20 and January 5", now) == ("2024-12-20", "2025-01-06")


@pytest.mark.parametrize(
    "query",
    [
        "May I ask what my dog is called?",
        "March on, then turn left",
        "Did I march in the parade?",
        "Is this the second time I've asked?",
        "When did I take a day off?",
        "I ran 5 miles and 10 more",
        "I stayed 3 days in Porto",
        "Which flat was on the 2nd floor?",
        "What did I order the 3rd time?",
        "Who is April?",
        "Where is April's new flat?",
        "What did Jan say about the budget?",
        "the 2024 budget review",
        "an august institution",
        "Which evening do I go dancing on Tuesdays?",
        "What do I do every Sunday?",
        "a film for a rainy Sunday?",
        "What's my plan for next week?",
        "What am I doing next Tuesday?",
        "the coming weekend",
        "What is my current running goal?",
        "Who's my boss these days?",
        "What did you suggest for a make-ahead lunch for the week?",
        "What was the outcome of the discussion about recruitment for next year?",
        "",
    ],
)
def test_non_time_words_give_no_window(query: str) -> None:
    assert find_time_window(query, NOW) is None


@pytest.mark.parametrize(
    "query",
    ["next week", "this Friday", "this weekend", "in 2030", "the end of this year", "tomorrow"],
)
def test_the_future_gives_no_window(query: str) -> None:
    assert find_time_window(query, NOW) is None


@pytest.mark.parametrize(
    "query",
    [
        "today", "this week", "this month", "this year", "in May", "since 2020", "in early May",
        "in the last 3 days", "over the past week", "on May 2nd", "earlier this week",
    ],
)  # fmt: skip
def test_no_window_ends_more_than_a_day_after_now(query: str) -> None:
    found = find_time_window(query, NOW)
    assert found is not None
    assert found.end <= (NOW + timedelta(days=1)).timestamp()
    assert found.start < found.end


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("In March, on the 14th, what did I cook?", "on the 14th", days("2024-04-14")),
        ("last month, on April 14th", "on April 14th", days("2024-04-14")),
        ("yesterday or last week?", "yesterday", days("2024-05-01")),
        ("in 2024, around early March", "around early March", ("2024-03-01", "2024-03-11")),
    ],
)
def test_the_most_specific_phrase_wins(query: str, text: str, expected: tuple[str, str]) -> None:
    found = find_time_window(query, NOW)
    assert found is not None and found.text == text
    assert window(query) == expected


def test_a_phrase_inside_a_longer_one_does_not_count() -> None:
    found = find_time_window("between March 3 and March 10", NOW)
    assert found is not None and found.text == "between March 3 and March 10"


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("What did I cook LAST TUESDAY?", "LAST TUESDAY"),
        ("Which city, In Early MARCH?", "In Early MARCH"),
        ("What did I cook last  Tuesday?", "last  Tuesday"),
        ("What did we decide at yesterday's meeting?", "at yesterday's"),
        ("What did I buy on March 14th?", "on March 14th"),
    ],
)
def test_text_is_the_phrase_as_written(query: str, text: str) -> None:
    found = find_time_window(query, NOW)
    assert found is not None and found.text == text


def test_now_naive_means_utc_and_aware_is_converted() -> None:
    naive = NOW.replace(tzinfo=None)
    assert find_time_window("yesterday", naive) == find_time_window("yesterday", NOW)
    east = datetime(2024, 5, 2, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # May 1, 20:00 UTC
    assert window("yesterday", east) == days("2024-04-30", now=east)


def test_slack_is_one_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_temporal, "_SLACK_DAYS", 0)
    assert window("on March 14th") == ("2024-03-14", "2024-03-15")
    monkeypatch.setattr(_temporal, "_SLACK_DAYS", 2)
    assert window("on March 14th") == ("2024-03-12", "2024-03-17")
    assert window("last week") == ("2024-04-22", "2024-04-29")  # a week gets none


def test_a_window_is_a_frozen_value() -> None:
    found = find_time_window("yesterday", NOW)
    assert found == TimeWindow(found.start, found.end, "yesterday") if found else False
    with pytest.raises(AttributeError):
        found.start = 0.0  # type: ignore[misc,union-attr]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What did I cook last Tuesday?", "What did I cook?"),
        ("Yesterday, what did I eat?", "what did I eat?"),
        ("Where did I go in early March with Tom?", "Where did I go with Tom?"),
        ("Who did I meet on March 14th, and where?", "Who did I meet, and where?"),
        ("What did we decide at yesterday's meeting?", "What did we decide meeting?"),
        ("between March 3 and March 10 what did I read", "what did I read"),
    ],
)
def test_without_time_words(query: str, expected: str) -> None:
    found = find_time_window(query, NOW)
    assert found is not None
    assert without_time_words(query, found) == expected


def test_without_time_words_keeps_a_query_without_the_phrase() -> None:
    found = find_time_window("yesterday", NOW)
    assert found is not None
    assert without_time_words("What did I eat?", found) == "What did I eat?"
