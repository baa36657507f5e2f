"""The worker's life: it sleeps when idle, wakes for work, and is gone when close() returns."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from asynctokens import TokenTracker
from tests.conftest import read_lines, read_stats, run_script, sigterm_when_ready


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asynctokens-writer"]


def test_close_returns_after_the_worker_thread_has_ended(make_tracker: Any) -> None:
    before = len(writer_threads())
    tracker = make_tracker()
    tracker.log(1, 1)
    assert len(writer_threads()) == before + 1
    assert tracker.close() is True
    assert len(writer_threads()) == before


def test_a_tracker_dropped_unclosed_writes_its_events_and_its_thread_ends(log_dir: Path) -> None:
    """A tracker made per call and never closed: once the application drops it, its worker
    writes what was queued (busy or asleep when dropped) and its thread ends, instead of
    living until exit."""
    threads = []
    for i in range(20):
        tracker = TokenTracker(log_dir)
        tracker.log(i, 1, "openai", "gpt-4o")
        if i % 2:
            assert tracker.flush_sync() is True  # its worker goes to sleep, then is dropped
        threads.append(tracker._thread)
        del tracker
    for thread in threads:
        assert thread is not None
        thread.join(timeout=60)  # a guard against a hang, not a bound: they end at once
    assert [thread.is_alive() for thread in threads] == [False] * 20
    assert sorted(line["prompt_tokens"] for line in read_lines(log_dir)) == list(range(20))
    assert read_stats(log_dir)["total_requests"] == 20


def test_a_backlog_of_a_tracker_dropped_just_before_exit_is_written_whole(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import TokenTracker
        tracker = TokenTracker("out")
        for i in range(50_000):
            tracker.log(i, 1, "openai", "gpt-4o")
        del tracker  # no close(): the exit waits for the dropped tracker's drain
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert len(read_lines(tmp_path / "out")) == 50_000
    assert read_stats(tmp_path / "out")["total_requests"] == 50_000


def test_a_tracker_dropped_unclosed_on_a_stuck_disk_gives_up_as_a_close_would_and_says_so(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the log directory should be")
    result = run_script(
        f"""
        from asynctokens import TokenTracker
        tracker = TokenTracker({str(blocked / "tokens")!r}, close_timeout_s=0.3)
        for i in range(5):
            tracker.log(i, 1, "openai", "gpt-4o")
        del tracker
        """,
        cwd=tmp_path,
    )
    said = [line for line in result.stderr.splitlines() if line.startswith("asynctokens:")]
    assert said[-1] == (
        "asynctokens: a tracker dropped without close() left 5 events not written:"
        " no progress for 0.3s"
    ), result.stderr
    assert said[0].startswith("asynctokens: cannot write token logs to ")


def test_an_idle_worker_wakes_for_the_next_event(make_tracker: Any, log_dir: Path) -> None:
    tracker = make_tracker(flush_interval_s=30.0)  # a sleep far longer than the test
    tracker.log(1, 1)
    assert tracker.flush_sync(timeout=5) is True
    time.sleep(0.05)  # the worker is asleep now: nothing queued, nothing pending
    tracker.log(2, 2)
    assert tracker.flush_sync(timeout=5) is True  # woken by the flush, long before 30 s
    assert [line["prompt_tokens"] for line in read_lines(log_dir)] == [1, 2]


def test_idle_trackers_cost_no_cpu(tmp_path: Path) -> None:
    result = run_script(
        """
        import time
        from asynctokens import TokenTracker
        trackers = [TokenTracker(f"logs/{i}") for i in range(50)]
        for t in trackers:
            t.log(1, 1)
            assert t.flush_sync(timeout=10)
        time.sleep(0.2)
        cpu = time.process_time()
        time.sleep(1.0)
        print(round(time.process_time() - cpu, 4))
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # 50 sleeping workers wake once per 10 flush intervals: far under 2 % of a core
    assert float(result.stdout) < 0.02, result.stdout


def test_a_never_closed_tracker_is_drained_at_exit(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import TokenTracker
        tracker = TokenTracker("out", flush_interval_s=60)
        for i in range(1000):
            tracker.log(i, 1)
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert len(read_lines(tmp_path / "out")) == 1000


def test_a_timed_out_close_says_how_many_events_and_which_timeout(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the log directory should be")
    result = run_script(
        f"""
        from asynctokens import TokenTracker
        tracker = TokenTracker({str(blocked / "tokens")!r})
        for i in range(3):
            tracker.log(1, 1)
        print(tracker.close(timeout=0.3))
        """,
        cwd=tmp_path,
    )
    assert result.stdout == "False\n"
    lines = [line for line in result.stderr.splitlines() if line.startswith("asynctokens:")]
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("asynctokens: cannot write token logs to ")  # at the first log
    assert lines[1].startswith(
        "asynctokens: closed with 3 events not written: no progress for 0.3s"
    )


def test_a_close_cut_short_by_a_full_disk_counts_exactly_the_events_not_on_disk(
    tmp_path: Path,
) -> None:
    """The disk fills mid-backlog (a file size limit: writes fail with EFBIG): the close
    message's count is the events logged less the lines on disk, not a batch more or less."""
    result = run_script(
        """
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from asynctokens import TokenTracker
        tracker = TokenTracker("out", batch_size=64)
        tracker.log(1, 1, "openai", "gpt-4o")
        assert tracker.flush_sync()
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        for i in range(5_000):
            tracker.log(100, 10, "openai", "gpt-4o", metadata={"i": i})
        print(tracker.close(timeout=0.5))
        """,
        cwd=tmp_path,
    )
    assert result.stdout == "False\n", result.stderr
    on_disk = len(read_lines(tmp_path / "out"))
    assert 1 < on_disk < 5_001
    message = [line for line in result.stderr.splitlines() if "closed with" in line]
    assert message == [
        f"asynctokens: closed with {5_001 - on_disk} events not written: no progress for 0.5s"
        " (last error: writing 64 events to " + str(tmp_path / "out") + " failed:"
        " [Errno 27] File too large; retrying in " + message[0].rsplit("retrying in ", 1)[1]
    ]


def test_a_close_whose_stats_update_is_stuck_says_every_event_was_written(
    tmp_path: Path,
) -> None:
    """Another process holds the stats lock: the lines are all written, the stats are not,
    and the message says exactly that (not "0 events not written")."""
    result = run_script(
        """
        import fcntl, os
        from asynctokens import TokenTracker
        tracker = TokenTracker("out")
        tracker.log(1, 1, "openai", "gpt-4o")
        assert tracker.flush_sync()
        holder = os.open("out/.token_stats.lock", os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: the writer's flock waits
        for i in range(1_000):
            tracker.log(100, 10, "openai", "gpt-4o")
        print(tracker.close(timeout=0.5))
        """,
        cwd=tmp_path,
    )
    assert result.stdout == "False\n", result.stderr
    assert len(read_lines(tmp_path / "out")) == 1_001
    assert read_stats(tmp_path / "out")["total_requests"] == 1
    message = [line for line in result.stderr.splitlines() if line.startswith("asynctokens:")]
    assert message == [
        "asynctokens: closed with every event written, but token_stats.json not updated"
        " (the next update will): no progress for 0.5s"
    ]


def test_logging_from_a_signal_handler_never_deadlocks(tmp_path: Path) -> None:
    # an alarm every 0.5 ms logs from its handler while the main thread makes the first call
    # (which starts the worker under the tracker's lock) and then many more
    script = """
        import signal
        from asynctokens import configure, log_tokens
        configure(log_dir="out")
        def on_alarm(signum, frame):
            log_tokens(0, 1, "alarm", "handler")
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        for i in range(2000):
            log_tokens(1, 0, "main", "loop")
        signal.setitimer(signal.ITIMER_REAL, 0)
        print("done")
    """
    for attempt in range(5):
        run = tmp_path / str(attempt)
        run.mkdir()
        result = run_script(script, cwd=run, timeout=60)
        assert result.returncode == 0 and result.stdout == "done\n", result.stderr
        lines = read_lines(run / "out")
        assert sum(1 for line in lines if line["api_type"] == "main") == 2000
        assert sum(1 for line in lines if line["api_type"] == "alarm") >= 1


def test_the_first_event_of_a_process_logged_from_a_thread_is_drained_by_sigterm(
    tmp_path: Path,
) -> None:
    result = sigterm_when_ready(
        """
        import threading, time
        from asynctokens import configure, log_tokens
        configure(log_dir="out", flush_interval_s=60)
        def work():
            for i in range(500):
                log_tokens(1, 1)
            print("logged", flush=True)
        threading.Thread(target=work).start()
        time.sleep(60)
        """,
        cwd=tmp_path,
        ready="logged",
    )
    assert result.returncode == 143, result.stderr
    assert len(read_lines(tmp_path / "out")) == 500


def test_tracker_option_mistakes_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match=r"max_queue_events \(100\) must be >= batch_size"):
        TokenTracker(batch_size=2000, max_queue_events=100)


def test_sigterm_before_anything_was_logged_ends_the_process_as_usual(tmp_path: Path) -> None:
    result = sigterm_when_ready(
        """
        import time, asynctokens
        asynctokens.log_tokens  # the tracker module is imported: its handler is installed
        print("up", flush=True)
        time.sleep(60)
        """,
        cwd=tmp_path,
        ready="up",
    )
    assert result.returncode == -signal.SIGTERM


def test_configure_changes_only_the_options_it_is_given(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import configure, get_tracker
        configure(log_dir="out", batch_size=500)
        configure(flush_interval_s=0.5)
        t = get_tracker()
        print(t.log_dir.name, t.batch_size, t.flush_interval_s, t.max_queue_events)
        try:
            configure(batch_size=10, flush_intervall_s=1)
        except TypeError as exc:
            print(exc)
        print(t.batch_size)
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "out 500 0.5 200000",
        "configure() got unknown options ['flush_intervall_s']; known: ['log_dir',"
        " 'batch_size', 'flush_interval_s', 'stats_interval_s', 'max_queue_events', 'overflow',"
        " 'block_timeout_s', 'close_timeout_s', 'file_mode', 'dir_mode', 'sinks',"
        " 'sink_timeout_s', 'host', 'max_queue_bytes', 'budgets', 'alerts', 'on_budget',"
        " 'budget_webhook', 'budget_interval_s', 'label_keys']",
        "500",
    ]


def test_an_unwritable_directory_is_reported_at_once_and_never_stalls_the_caller(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the log directory should be")
    # a call that waited for room would wait an hour: the suite's timeout would fail it
    tracker = TokenTracker(
        blocked / "tokens", max_queue_events=10, batch_size=10, block_timeout_s=3600
    )
    for _ in range(100):
        tracker.log(1, 1)  # a full queue, a failing writer: dropped at once, never waits
    health = tracker.health()
    assert health.last_error is not None and "cannot write token logs to" in health.last_error
    assert health.dropped + health.queue_depth + health.pending_write == 100
    assert health.dropped >= 90
    assert tracker.close(timeout=0.2) is False


def test_the_block_policy_drops_nothing_whatever_the_number_of_threads(
    make_tracker: Any, log_dir: Path
) -> None:
    tracker = make_tracker(max_queue_events=200, batch_size=200, block_timeout_s=0.05)

    def work() -> None:
        for i in range(2000):
            tracker.log(i, 1)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.close() is True
    assert tracker.health().dropped == 0
    assert len(read_lines(log_dir)) == 64_000


def test_a_first_event_logged_in_a_late_atexit_handler_is_written(tmp_path: Path) -> None:
    result = run_script(
        """
        import atexit
        from asynctokens import configure, log_tokens
        configure(log_dir="out")
        @atexit.register  # registered after asynctokens': runs before its drain
        def early():
            log_tokens(1, 1, "exit", "registered-after")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [line["model"] for line in read_lines(tmp_path / "out")] == ["registered-after"]


def test_an_event_logged_after_the_exit_drain_is_written_there(tmp_path: Path) -> None:
    result = run_script(
        """
        import atexit
        @atexit.register  # registered before asynctokens is imported: runs after its drain
        def late():
            from asynctokens import log_tokens
            log_tokens(2, 2, "exit", "after-drain")
        from asynctokens import configure, log_tokens
        configure(log_dir="out")
        for i in range(10):
            log_tokens(1, 1, "main", "loop")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    models = [line["model"] for line in read_lines(tmp_path / "out")]
    assert models == ["loop"] * 10 + ["after-drain"]


def test_an_event_logged_during_interpreter_shutdown_is_refused_out_loud(tmp_path: Path) -> None:
    result = run_script(
        """
        from asynctokens import configure, log_tokens
        configure(log_dir="out")
        class LogsWhenCollected:
            def __del__(self):
                log_tokens(3, 3, "exit", "from-del")
        keep = LogsWhenCollected()  # collected with the module, after atexit
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "asynctokens: an event logged during interpreter shutdown" in result.stderr


def test_close_waits_as_long_as_the_writer_makes_progress(make_tracker: Any, log_dir: Path) -> None:
    """A backlog that takes far longer to write than the timeout is written whole: the
    timeout bounds time without progress (a stuck disk gives up: the tests above)."""
    tracker = make_tracker(max_queue_events=400_000)
    for i in range(400_000):
        tracker.log(i % 1000, 1, "openai", "gpt-4o")
    assert tracker.close(timeout=0.05) is True
    health = tracker.health()
    assert (health.written, health.dropped, health.queue_depth) == (400_000, 0, 0)
    assert sum(1 for _ in (log_dir).glob("tokens_*.jsonl")) >= 1
    assert read_stats(log_dir)["total_requests"] == 400_000
