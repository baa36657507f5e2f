"""The package root re-exports the public API and nothing else."""

from __future__ import annotations

import asynctokens


def test_all_names_exactly_the_public_api() -> None:
    assert sorted(asynctokens.__all__) == [
        "AsyncTokensError",
        "LogDirError",
        "NothingMatchedError",
        "PricingError",
        "Sink",
        "TokenEvent",
        "TokenTracker",
        "TrackerClosedError",
        "TrackerHealth",
        "TrackerState",
        "Usage",
        "UsageMissingWarning",
        "configure",
        "get_tracker",
        "log_response",
        "log_tokens",
        "usage_from",
    ]
    for name in asynctokens.__all__:
        assert getattr(asynctokens, name) is not None


def test_log_tokens_is_the_default_trackers_log() -> None:
    assert asynctokens.log_tokens.__self__ is asynctokens.get_tracker()  # type: ignore[attr-defined]


def test_log_response_is_the_default_trackers_log_response() -> None:
    assert asynctokens.log_response.__self__ is asynctokens.get_tracker()  # type: ignore[attr-defined]
