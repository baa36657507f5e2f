"""Labels: attached by ``labels()`` (and ``labels=``) to every event logged inside, whatever
logs it, across awaits and tasks but not unrelated threads; checked at the call; reports by
any label (``--by``, ``--where``) equal to a fold of the lines, answered from the stats."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctokens import NothingMatchedError, TokenTracker, Usage, current_labels, labels, reader
from asynctokens.cli import main
from asynctokens.read import summary
from tests.conftest import read_lines
from tests.sdk_replies import Replies, openai_chat, openai_client

NOON = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def labels_of(log_dir: Path) -> list[dict[str, str] | None]:
    return [line.get("labels") for line in read_lines(log_dir)]


def test_labels_reach_every_event_logged_inside_whatever_logs_it(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat())))
    with labels(customer="acme", feature="search") as now:
        assert now == current_labels() == {"customer": "acme", "feature": "search"}
        tracker.log(1, 1, "openai", "gpt-4o")  # the bare call
        tracker.log(1, 1, "openai", "gpt-4o", labels={"feature": "chat", "job": "7"})
        client.chat.completions.create(model="gpt-4o", messages=[])  # an instrumented client
        with tracker.track(api_type="acme", model="acme-1") as call:
            call.record_usage(Usage(2, 3, api_type="acme"))
        tracker.log_response(
            {"object": "chat.completion", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
        )
        with labels(customer="globex"):  # inner values win, outer ones stay
            tracker.log(1, 1, "openai", "gpt-4o")
    tracker.log(1, 1, "openai", "gpt-4o")  # outside: none
    assert current_labels() == {}
    tracker.close()
    acme = {"customer": "acme", "feature": "search"}
    assert labels_of(log_dir) == [
        acme,
        {"customer": "acme", "feature": "chat", "job": "7"},
        acme,
        acme,
        acme,
        {"customer": "globex", "feature": "search"},
        None,
    ]


def test_labels_are_their_own_field_beside_metadata(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker()
    with labels(customer="acme"):
        tracker.log(1, 1, "openai", "gpt-4o", ts=NOON, metadata={"article_id": 123})
    tracker.close()
    [line] = read_lines(log_dir)
    assert (line["labels"], line["metadata"]) == ({"customer": "acme"}, {"article_id": 123})


async def test_labels_follow_asyncio_tasks_and_not_unrelated_threads(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()

    async def job(n: int) -> None:
        await asyncio.sleep(0)
        tracker.log(n, 1, "openai", "gpt-4o", ts=NOON)

    def in_thread(n: int) -> None:
        tracker.log(n, 1, "openai", "gpt-4o", ts=NOON)

    with labels(customer="acme"):
        await asyncio.gather(job(1), job(2))
        plain = threading.Thread(target=in_thread, args=(3,))
        passed = threading.Thread(target=contextvars.copy_context().run, args=(in_thread, 4))
        plain.start()
        passed.start()
        plain.join()
        passed.join()
    other = asyncio.create_task(job(5))  # started outside: none
    await other
    await tracker.aclose()
    got = {line["prompt_tokens"]: line.get("labels") for line in read_lines(log_dir)}
    acme = {"customer": "acme"}
    assert got == {1: acme, 2: acme, 3: None, 4: acme, 5: None}


async def test_a_stream_carries_the_labels_it_was_asked_for_under_wherever_it_is_read(
    make_tracker: Any, log_dir: Path
) -> None:
    """A web framework reads a streamed reply after the handler, and its ``labels()``
    block, returned: the line is the call's, made inside the block. So is a tracked
    generator's, and an async stream read by another task."""
    from tests.sdk_replies import arriving, openai_chat_stream

    tracker = make_tracker()
    client = tracker.instrument(openai_client(Replies(openai_chat_stream(), openai_chat_stream())))
    aclient = tracker.instrument(openai_client(Replies(openai_chat_stream()), asynchronous=True))
    args: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                            "stream": True}  # fmt: skip

    @tracker.track(api_type="openai", model="m")
    def generated() -> Any:
        yield "a"
        return Usage(3, 4)

    with labels(customer="acme"):
        handed_on = client.chat.completions.create(**args)
        left = client.chat.completions.create(**args)
        made = generated()
        streamed = await aclient.chat.completions.create(**args)
    list(handed_on)  # read after the block, as a StreamingResponse does
    with labels(customer="other"):  # read inside another block: still the call's own
        for _chunk in left:
            break
        left.close()
    list(made)

    async def read() -> None:
        async for _chunk in streamed:
            pass

    await asyncio.create_task(read(), context=contextvars.Context())  # a task of no labels
    raw = tracker.instrument(openai_client(Replies(arriving(openai_chat_stream()))))
    with labels(customer="acme"):  # a body read at the transport, closed after the block
        response = raw.chat.completions.with_streaming_response.create(
            **args, stream_options={"include_usage": True}
        ).__enter__()
    list(response.iter_lines())
    response.close()
    assert tracker.close() is True
    assert labels_of(log_dir) == [{"customer": "acme"}] * 5


def test_labels_follow_trio_tasks(tmp_path: Path) -> None:
    async def run() -> None:
        tracker = TokenTracker(tmp_path)

        async def job(n: int) -> None:
            await trio.lowlevel.checkpoint()
            tracker.log(n, 1, "openai", "gpt-4o", ts=NOON)

        with labels(team="search"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(job, 1)
                nursery.start_soon(job, 2)
        await job(3)
        await tracker.aclose()

    trio.run(run)
    got = {line["prompt_tokens"]: line.get("labels") for line in read_lines(tmp_path)}
    assert got == {1: {"team": "search"}, 2: {"team": "search"}, 3: None}


def test_labels_as_a_decorator_on_functions_and_coroutine_functions(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker()

    @labels(feature="sync")
    def plain() -> None:
        tracker.log(1, 1, "openai", "gpt-4o", ts=NOON)

    @labels(feature="async")
    async def coro() -> None:
        tracker.log(2, 1, "openai", "gpt-4o", ts=NOON)

    plain()
    asyncio.run(coro())
    tracker.log(3, 1, "openai", "gpt-4o", ts=NOON)
    tracker.close()
    assert labels_of(log_dir) == [{"feature": "sync"}, {"feature": "async"}, None]
    with pytest.raises(TypeError, match="cannot decorate a generator function"):

        @labels(feature="gen")
        def gen() -> Any:
            yield 1


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"bad key": "x"}, ValueError, "label key 'bad key' is not a name"),
        ({"model": "x"}, ValueError, "label key 'model' is a name reports already group by"),
        ({"customer": ""}, ValueError, "label 'customer' must be 1 to 256 characters, got 0"),
        ({"customer": "x" * 257}, ValueError, "must be 1 to 256 characters, got 257"),
        ({"customer": 7}, TypeError, "label 'customer' must be a str, got int 7"),
        ({f"k{i}": "v" for i in range(17)}, ValueError, "17 labels, over the 16 allowed"),
        ({"customer": "\ud800"}, ValueError, "label 'customer' is not valid Unicode text"),
    ],
)
def test_labels_are_checked_at_the_call_with_a_message_that_says_what_to_do(
    make_tracker: Any, log_dir: Path, bad: dict[str, Any], error: type, message: str
) -> None:
    tracker = make_tracker()
    with pytest.raises(error, match=message.replace("(", r"\(")):
        labels(bad)
    with pytest.raises(error, match=message.replace("(", r"\(")):
        tracker.log(1, 1, "openai", "gpt-4o", labels=bad)
    assert tracker.close()
    assert read_lines(log_dir) == []


def test_too_many_labels_with_the_enclosing_blocks_are_refused(make_tracker: Any) -> None:
    tracker = make_tracker()
    with labels({f"a{i}": "v" for i in range(10)}):
        with pytest.raises(ValueError, match="17 labels with those of the enclosing"):
            labels({f"b{i}": "v" for i in range(7)}).__enter__()
        with pytest.raises(ValueError, match="17 labels with those of the labels"):
            tracker.log(1, 1, labels={f"b{i}": "v" for i in range(7)})


# -- reports by label --------------------------------------------------------------------------
EVENTS = st.lists(
    st.tuples(
        st.integers(0, 9),  # day of the month
        st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]),
        st.sampled_from([None, "acme", "globex", "initech"]),  # customer
        st.sampled_from([None, "search", "chat"]),  # feature
        st.integers(0, 5_000),
        st.integers(0, 500),
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
)


def _fold(lines: list[dict[str, Any]], keys: list[str]) -> dict[tuple[str, ...], list[int]]:
    """The independent answer: requests, prompt and completion per tuple of label values."""
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        values = tuple((line.get("labels") or {}).get(k, "(none)") for k in keys)
        row = out[values]
        row[0] += 1
        row[1] += line["prompt_tokens"]
        row[2] += line["completion_tokens"]
    return dict(out)


def _flatten(
    rows: dict[str, Any], prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], list[int]]:
    out: dict[tuple[str, ...], list[int]] = {}
    for name, r in rows.items():
        if "breakdown" in r:
            out.update(_flatten(r["breakdown"], (*prefix, name)))
        else:
            out[(*prefix, name)] = [
                r["total_requests"], r["total_prompt_tokens"], r["total_completion_tokens"]
            ]  # fmt: skip
    return out


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=EVENTS)
def test_reports_by_label_equal_a_fold_of_the_lines(
    tmp_path_factory: Any, events: list[Any]
) -> None:
    log_dir = tmp_path_factory.mktemp("logs")
    tracker = TokenTracker(log_dir)
    for day, model, customer, feature, p, c, ok in events:
        own = {k: v for k, v in (("customer", customer), ("feature", feature)) if v}
        tracker.log(p, c, None, model, ok, None if ok else "429", ts=NOON.replace(day=day + 1),
                    labels=own or None)  # fmt: skip
    assert tracker.close()
    lines = read_lines(log_dir)
    # the writer's fold (the stats) and a fold of the lines put each call in the same cell
    from_stats = reader.aggregate(log_dir)
    for stats_file in log_dir.glob("token_stats*"):
        stats_file.unlink()
    assert reader.aggregate(log_dir) == from_stats
    query = summary.Query(log_dir=log_dir)
    report = summary.breakdown(query, "customer", ["feature"])
    assert _flatten(report["rows"]) == _fold(lines, ["customer", "feature"])
    assert report["totals"]["total_requests"] == len(events)
    # filtered, then by day: the days of acme's calls alone
    acme = [line for line in lines if (line.get("labels") or {}).get("customer") == "acme"]
    if acme:
        daily = summary.breakdown(summary.Query(log_dir=log_dir, where={"customer": "acme"}), "day")
        assert sum(r["total_requests"] for r in daily["rows"].values()) == len(acme)
        assert sum(r["total_prompt_tokens"] for r in daily["rows"].values()) == sum(
            line["prompt_tokens"] for line in acme
        )


def test_a_report_by_label_is_answered_from_the_stats(tmp_path: Path) -> None:
    """The month's labels file keeps each cell's labels, so ``--by customer`` reads no line."""
    tracker = TokenTracker(tmp_path)
    with labels(customer="acme"):
        tracker.log(1_000, 100, "openai", "gpt-4o", ts=NOON, response_model="gpt-4o-2024-08-06")
    tracker.log(10, 1, "openai", "gpt-4o", ts=NOON)
    assert tracker.close()
    month = orjson.loads((tmp_path / "token_stats_2026-11.labels.json").read_bytes())
    assert sorted(key[4] for key in month["keys"]) == [
        "",
        '{"l":{"customer":"acme"},"r":"gpt-4o-2024-08-06"}',
    ]
    report = reader.ReadReport()
    agg = reader.aggregate(tmp_path, report=report)
    assert report.lines_read == 0
    by_customer = {k: (r["total_requests"], r["total_prompt_tokens"])
                   for k, r in agg.by("customer").items()}  # fmt: skip
    assert by_customer == {"(none)": (1, 10), "acme": (1, 1_000)}


def test_summary_by_customer_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = TokenTracker(tmp_path)
    with labels(customer="acme"):
        tracker.log(1_000_000, 100_000, "openai", "gpt-4o", ts=NOON)
        tracker.log(1_000_000, 0, "openai", "gpt-4o-mini", ts=NOON + dt.timedelta(days=1))
    with labels(customer="globex"):
        tracker.log(2_000_000, 0, "openai", "gpt-4o", ts=NOON)
    assert tracker.close()
    assert main(["summary", "--log-dir", str(tmp_path), "--by", "customer", "--json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)["rows"]
    # gpt-4o $2.50 in / $10 out per million; gpt-4o-mini $0.15 in
    assert {k: (r["total_requests"], r["cost_usd"]) for k, r in rows.items()} == {
        "acme": (2, 3.65),
        "globex": (1, 5.0),
    }
    assert main(["daily", "--log-dir", str(tmp_path), "--where", "customer=acme", "--by",
                 "model", "--json"]) == 0  # fmt: skip
    days = orjson.loads(capsys.readouterr().out)["rows"]
    assert {
        d: {m: r["cost_usd"] for m, r in row["breakdown"].items()} for d, row in days.items()
    } == {
        "2026-11-30": {"gpt-4o": 3.5},
        "2026-12-01": {"gpt-4o-mini": 0.15},
    }
    assert main(["summary", "--log-dir", str(tmp_path), "--where", "customer=acne"]) == 1
    assert capsys.readouterr().err == (
        "asynctokens: no calls with --where customer='acne' in this range: the logs hold"
        " 'acme' (of 2)\n"
    )
    assert main(["summary", "--log-dir", str(tmp_path), "--where", "tenant=x"]) == 1
    assert "no call carries the label 'tenant'" in capsys.readouterr().err


def test_weekly_rows_start_on_the_day_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = TokenTracker(tmp_path)
    for day in (28, 29, 30):  # Saturday, Sunday, Monday
        tracker.log(day, 1, "openai", "gpt-4o", ts=NOON.replace(day=day))
    assert tracker.close()
    assert main(["weekly", "--log-dir", str(tmp_path), "--json"]) == 0
    iso = orjson.loads(capsys.readouterr().out)
    assert {w: r["total_prompt_tokens"] for w, r in iso["rows"].items()} == {
        "2026-11-23": 28 + 29, "2026-11-30": 30
    }  # fmt: skip
    assert iso["week_start"] == "monday"
    assert main(["weekly", "--log-dir", str(tmp_path), "--week-start", "sunday", "--json"]) == 0
    sunday = orjson.loads(capsys.readouterr().out)["rows"]
    assert {w: r["total_prompt_tokens"] for w, r in sunday.items()} == {
        "2026-11-22": 28, "2026-11-29": 29 + 30
    }  # fmt: skip


def test_a_call_is_priced_as_the_model_that_served_it_and_grouped_as_the_one_asked_for(
    tmp_path: Path,
) -> None:
    """gpt-4o's alias and its snapshot are priced alike here, but an unknown alias is not:
    the served snapshot prices it; failures and successes share the asked-for row."""
    tracker = TokenTracker(tmp_path)
    tracker.log(1_000_000, 0, "openai", "my-gpt", ts=NOON, response_model="gpt-4o-2024-08-06")
    tracker.log(0, 0, "openai", "my-gpt", False, "429 rate limited", ts=NOON)
    assert tracker.close()
    query = summary.Query(log_dir=tmp_path)
    rows = summary.breakdown(query, "model")["rows"]
    assert list(rows) == ["my-gpt"]
    assert (rows["my-gpt"]["total_requests"], rows["my-gpt"]["success_rate"]) == (2, 50.0)
    assert rows["my-gpt"]["cost_usd"] == 2.5
    served = summary.breakdown(query, "response-model")["rows"]
    assert {k: r["total_requests"] for k, r in served.items()} == {
        "gpt-4o-2024-08-06": 1, "my-gpt": 1
    }  # fmt: skip


def test_a_label_of_many_values_is_capped_in_the_stats_and_exact_on_request(
    tmp_path: Path,
) -> None:
    """510 customers in one month: the stats keep the 500 with the most requests and sum the
    others as "(other)" (totals exact); --exact reads the lines and has each one."""
    from asynctokens.stats._fold import LABEL_VALUES_CAP

    tracker = TokenTracker(tmp_path)
    for i in range(LABEL_VALUES_CAP + 10):
        calls = 2 if i < LABEL_VALUES_CAP else 1  # the 10 last have the fewest requests
        for _ in range(calls):
            tracker.log(10, 1, "openai", "gpt-4o", ts=NOON, labels={"customer": f"c{i:04d}"})
    assert tracker.close()
    from_stats = summary.breakdown(summary.Query(log_dir=tmp_path), "customer")
    rows = from_stats["rows"]
    assert len(rows) == LABEL_VALUES_CAP + 1
    assert rows["(other)"]["total_requests"] == 10
    assert rows["c0000"]["total_requests"] == 2
    assert from_stats["totals"]["total_requests"] == 2 * LABEL_VALUES_CAP + 10
    exact = summary.breakdown(summary.Query(log_dir=tmp_path, exact=True), "customer")["rows"]
    assert len(exact) == LABEL_VALUES_CAP + 10 and "(other)" not in exact
    assert exact[f"c{LABEL_VALUES_CAP + 9:04d}"]["total_requests"] == 1


def test_recent_and_the_csv_export_take_where_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = TokenTracker(tmp_path)
    with labels(customer="acme"):
        tracker.log(1, 1, "openai", "gpt-4o", ts=NOON)
    tracker.log(2, 2, "openai", "gpt-4o", ts=NOON, service_tier="flex")
    assert tracker.close()
    assert main(["recent", "--log-dir", str(tmp_path), "--where", "customer=acme", "--json"]) == 0
    assert [e["prompt_tokens"] for e in orjson.loads(capsys.readouterr().out)["events"]] == [1]
    out = tmp_path / "calls.csv"
    assert main(["export", "--format", "csv", "-o", str(out), "--log-dir", str(tmp_path),
                 "--where", "service-tier=flex"]) == 0  # fmt: skip
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and ",flex," in lines[1]
    assert main(["recent", "--log-dir", str(tmp_path), "--where", "customer=nobody"]) == 1


def test_the_json_and_html_exports_take_by_and_the_csv_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    tracker = TokenTracker(logs)
    with labels(customer="acme"):
        tracker.log(1_000_000, 100_000, "openai", "gpt-4o", ts=NOON)
    with labels(customer="<b>globex</b>"):  # a label is untrusted text: escaped in HTML
        tracker.log(2_000_000, 0, "openai", "gpt-4o", ts=NOON)
    assert tracker.close()
    report = tmp_path / "report.json"
    assert main(["export", "--format", "json", "-o", str(report), "--log-dir", str(logs),
                 "--by", "customer", "--by", "model"]) == 0  # fmt: skip
    by = orjson.loads(report.read_bytes())["by"]
    assert {k: r["cost_usd"] for k, r in by["customer"].items()} == {
        "acme": 3.5, "<b>globex</b>": 5.0}  # fmt: skip
    assert {k: r["total_requests"] for k, r in by["model"].items()} == {"gpt-4o": 2}
    page = tmp_path / "report.html"
    assert main(["export", "--format", "html", "-o", str(page), "--log-dir", str(logs),
                 "--by", "customer"]) == 0  # fmt: skip
    html = page.read_text()
    assert "<h2>By customer</h2>" in html
    assert "&lt;b&gt;globex&lt;/b&gt;" in html and "<b>globex" not in html
    capsys.readouterr()
    assert main(["export", "--format", "csv", "-o", str(tmp_path / "x.csv"), "--log-dir",
                 str(logs), "--by", "customer"]) == 2  # fmt: skip
    assert capsys.readouterr().err == (
        "asynctokens: error: --by groups the JSON and HTML reports; --format csv has a row per"
        " call already (its labels column holds every label)\n"
    )
    assert main(["live", "--log-dir", str(logs), "--by", "no such key"]) == 2
    assert "unknown breakdown 'no such key'" in capsys.readouterr().err


def test_a_by_label_key_no_call_carries_is_named_with_the_keys_they_do(tmp_path: Path) -> None:
    """A misspelt ``--by`` key would print every call as "(none)": refused where a held key
    is spelt alike, naming the keys held; a key unlike any is one "(none)" row (labels not
    used yet, or not on these calls)."""
    tracker = TokenTracker(tmp_path)
    tracker.log(10, 1, "openai", "gpt-4o", ts=NOON)
    tracker.log(10, 1, "openai", "gpt-4o", ts=NOON, labels={"customer": "acme", "team": "x"})
    assert tracker.close()
    query = summary.Query(log_dir=tmp_path)
    rows = summary.breakdown(query, "feature", ["customer"])["rows"]
    assert {k: r["total_requests"] for k, r in rows.items()} == {"(none)": 2}
    for typo in ("custmer", "customers", "Customer"):
        with pytest.raises(NothingMatchedError) as raised:
            summary.breakdown(query, "team", [typo])
        assert str(raised.value) == (
            f"no call in this range carries the label {typo!r}: did you mean --by customer?"
            " (they carry 'customer', 'team')"
        )


async def test_a_gemini_stream_whose_requests_are_held_keeps_the_labels_it_was_asked_for(
    make_tracker: Any, log_dir: Path
) -> None:
    """A Gemini stream's requests wait until it ends, to be linked: their lines still carry
    the labels where the call was made, not where the stream was read to its end."""
    from tests.sdk_replies import gemini_client, gemini_stream

    tracker = make_tracker()
    client = tracker.instrument(gemini_client(Replies(gemini_stream(), gemini_stream())))
    args: dict[str, Any] = {"model": "gemini-2.5-pro", "contents": "Hi"}
    with labels(customer="acme"):
        chunks = client.models.generate_content_stream(**args)
        streamed = await client.aio.models.generate_content_stream(**args)
    list(chunks)

    async def read() -> None:
        async for _chunk in streamed:
            pass

    await asyncio.create_task(read(), context=contextvars.Context())  # a task of no labels
    assert tracker.close() is True
    assert labels_of(log_dir) == [{"customer": "acme"}] * 2
