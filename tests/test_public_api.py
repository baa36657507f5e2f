"""The package root re-exports the public API and nothing else; every public module keeps
its import path and names whatever the layout behind it."""

from __future__ import annotations

import importlib

import pytest

import asynctokens


def test_all_names_exactly_the_public_api() -> None:
    assert sorted(asynctokens.__all__) == [
        "Alert",
        "AsyncTokensError",
        "Budget",
        "BudgetEvent",
        "BudgetExceededError",
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
        "UsageAdjustedWarning",
        "UsageMissingWarning",
        "configure",
        "current_labels",
        "get_tracker",
        "labels",
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


#: Every public module and the names it promises: the import paths users write.
PUBLIC_MODULES = {
    "asynctokens.reader": ["DateLike", "ReadReport", "TimeRange", "aggregate", "get_timezone",
                           "iter_events", "iter_recent", "open_log_dirs", "time_range"],
    "asynctokens.summary": ["DIMENSIONS", "Query", "breakdown", "check_filters", "costs",
                            "event_cost", "full_report", "iter_filtered", "load",
                            "read_findings", "recent", "summary"],
    "asynctokens.aio": ["abreakdown", "arecent", "asummary", "follow"],
    "asynctokens.sql": ["COLUMNS", "connect", "export_parquet", "literal", "query", "view_sql"],
    "asynctokens.otel": ["OTelExportError", "OTelSink", "WatchedExporter", "watch"],
    "asynctokens.testing": ["InMemorySink"],
    "asynctokens.integrations": ["Usage", "usage_from"],
    "asynctokens.cli": ["build_parser", "main"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_every_public_module_keeps_its_path_and_names(module: str) -> None:
    imported = importlib.import_module(module)
    for name in PUBLIC_MODULES[module]:
        assert getattr(imported, name) is not None, f"{module}.{name}"
    if hasattr(imported, "__all__"):
        assert sorted(imported.__all__) == sorted(PUBLIC_MODULES[module])


def test_the_public_faces_are_the_read_sides_own_objects() -> None:
    from asynctokens import reader, summary
    from asynctokens.read import reader as read_reader
    from asynctokens.read import summary as read_summary

    assert reader.iter_events is read_reader.iter_events
    assert summary.Query is read_summary.Query
