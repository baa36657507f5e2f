"""Where each value of a call lies in a row of ``EVENT_FIELDS`` (a CSV export's row), which
the per-call pricers read by index: one definition for all of them."""

from __future__ import annotations

from asynctokens.record._format import EVENT_FIELDS

TS, API, MODEL, PROMPT, COMPLETION, CACHED, CACHE_WRITE, SUCCESS, SERVED, TIER, ONE_HOUR = (
    EVENT_FIELDS.index(name)
    for name in ("ts", "api_type", "model", "prompt_tokens", "completion_tokens",
                 "cached_tokens", "cache_write_tokens", "success", "response_model",
                 "service_tier", "cache_write_1h_tokens")
)  # fmt: skip
