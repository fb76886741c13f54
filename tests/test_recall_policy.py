"""The low-noise indexing policy and chunking."""

from __future__ import annotations

import pytest

from nucleusmem.recall._policy import IndexPolicy, chunk_text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ok", "too_short"),
        ("   thanks!   ", "too_short"),
        ("Thanks a lot, see you tomorrow!", "greeting"),
        ("Good morning team!", "greeting"),
        ('{"tool": "search", "args": {"q": "weather in Paris"}}', "tool_json"),
        ('[{"id": 1, "title": "result one"}, {"id": 2}]', "tool_json"),
        ("Error: connection refused (port 5432)", "short_error"),
        ("ValueError: invalid literal for int() with base 10: 'x'", "short_error"),
        ("The customer prefers invoices by email, not post.", None),
        ("Thanks to the new cache, p99 latency fell from 80 ms to 12 ms last week.", None),
        ("{not json at all, just braces in prose about sets}", None),
        ("Error budgets: we may spend 0.1% of requests on failures per month. " * 5, None),
    ],
)
def test_default_policy(text: str, reason: str | None) -> None:
    assert IndexPolicy().skip_reason(text) == reason


def test_rules_turn_off() -> None:
    policy = IndexPolicy(
        min_chars=None, skip_greetings=False, skip_tool_json=False, short_error_chars=None
    )
    for text in ("ok", "Thanks a lot!", '{"a": 1}', "Error: boom"):
        assert policy.skip_reason(text) is None


def test_chunks_cover_the_text_with_overlap() -> None:
    words = [f"w{i}" + ("." if i % 25 == 24 else "") for i in range(1000)]
    chunks = chunk_text(" ".join(words), max_words=200, overlap_words=40)
    assert all(len(c.split()) <= 200 for c in chunks)
    seen = [w for c in chunks for w in c.split()]
    assert set(seen) == set(words)  # nothing lost
    assert chunks[0].split()[-1].endswith(".")  # cut at a sentence end
    first, second = chunks[0].split(), chunks[1].split()
    assert first[-40:] == second[:40]  # the overlap
    assert chunk_text("short text") == ["short text"]
    assert chunk_text("   ") == []
    with pytest.raises(ValueError):
        chunk_text("x", max_words=10, overlap_words=10)
