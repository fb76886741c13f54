"""What is worth indexing ("low noise"), and how long content is cut into chunks.

Agents write a lot that no one will ever look for: greetings, acknowledgements, the
JSON of tool calls, one-line error messages. Indexing them only crowds the results.
`IndexPolicy` names what to skip; what is skipped stays stored and readable, it is
only not searchable, and the indexer counts each reason so the choice is visible.
Near-duplicates are judged by the indexer (it needs the vectors); the threshold lives
here with the rest of the policy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["IndexPolicy", "SkipReason", "chunk_text"]

SkipReason = str
"""Why a record was not indexed: ``too_short``, ``greeting``, ``tool_json``,
``short_error`` or ``near_duplicate``."""

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|thx|ok(ay)?|sure|got it|good (morning|afternoon|"
    r"evening|night)|bye|goodbye|see you|cheers|yes|no|yep|nope|great|cool|np|no problem|"
    r"you'?re welcome|sounds good|will do|done)\b[\s!.,:;)(-]*"
    r"(\w+[\s!.,]*){0,5}$",
    re.IGNORECASE,
)
_ERROR = re.compile(
    r"^\s*(error|exception|traceback|fatal|failed|failure|warning|\w+(error|exception))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class IndexPolicy:
    """Per-space indexing rules; ``None`` or ``False`` turns a rule off.

    ``min_chars``: shorter content (stripped) is skipped. ``skip_greetings``: small
    talk of a few words. ``skip_tool_json``: content that is a JSON object or array
    (tool calls and their raw results). ``short_error_chars``: error messages up to
    this length. ``near_duplicate_cosine``: content this similar to something already
    indexed in the same lane is skipped.
    """

    min_chars: int | None = 12
    skip_greetings: bool = True
    skip_tool_json: bool = True
    short_error_chars: int | None = 200
    near_duplicate_cosine: float | None = 0.97

    def skip_reason(self, text: str) -> SkipReason | None:
        """Why ``text`` should not be indexed, or None to index it.

        (Near-duplicates are the indexer's call; see ``near_duplicate_cosine``.)
        """
        stripped = text.strip()
        if self.min_chars is not None and len(stripped) < self.min_chars:
            return "too_short"
        if self.skip_greetings and len(stripped) <= 80 and _GREETING.match(stripped):
            return "greeting"
        if self.skip_tool_json and stripped[:1] in ("{", "[") and _is_json(stripped):
            return "tool_json"
        if (
            self.short_error_chars is not None
            and len(stripped) <= self.short_error_chars
            and _ERROR.match(stripped)
        ):
            return "short_error"
        return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def chunk_text(text: str, *, max_words: int = 200, overlap_words: int = 40) -> list[str]:
    """``text`` cut into windows of at most ``max_words`` words, overlapping.

    Short text is one chunk; an empty text is no chunk. Windows end at a sentence end
    when one lies in their last quarter, so chunks rarely split a sentence.
    """
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    words = text.split()
    if len(words) <= max_words:
        return [" ".join(words)] if words else []
    chunks: list[str] = []
    start = 0
    while start < len(words):
        end = min(start + max_words, len(words))
        if end < len(words):
            for cut in range(end, start + (3 * max_words) // 4, -1):
                if words[cut - 1].endswith((".", "!", "?")):
                    end = cut
                    break
        chunks.append(" ".join(words[start:end]))
        if end == len(words):
            break
        start = max(end - overlap_words, start + 1)
    return chunks
