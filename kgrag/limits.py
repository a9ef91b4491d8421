"""One set of request limits, read by the API's schemas, the settings, the answerer, the retriever
and the prompt builder alike, so that what the service accepts is exactly what reaches the model.

Before these were one module, the API accepted a 1,000-character question that the prompt builder
would have cut at 2,000, a history turn of 8,000 characters that the prompt silently cut to 4,000,
and ``max_new_tokens`` up to 2,048 per request but 4,096 in the settings. Each limit is now the
smaller of the two (so every prompt and answer stays what it was): a longer turn is refused with a
422 naming the limit instead of being cut without a word.
"""

from __future__ import annotations

MAX_QUESTION_CHARS = 6000
"""Characters of one question (after trimming): room for a clinical case vignette with its options
(exam vignettes run to ~1,500–2,500 characters; a Chinese case is shorter), which the prompt keeps
whole."""

MAX_HISTORY_TURNS = 32
"""Earlier turns sent with a question."""

MAX_TURN_CHARS = MAX_QUESTION_CHARS
"""Characters of one earlier turn: an earlier question may be as long as a question."""

MAX_NEW_TOKENS = 2048
"""Tokens of one answer (per request and as the settings' default cap)."""

MAX_TOP_K = 100
"""Facts retrieved for (and put in the prompt of) one question."""
