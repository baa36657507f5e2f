"""Reports over many hosts' directories and a long time, in any time zone.

    python -m benchmarks.year_bench                     # a year: 10M events, 20 models, 4 hosts
    python -m benchmarks.year_bench --events 2000000 --hosts 2 --days 30 --models 4
    python -m benchmarks.year_bench --labels 50         # each call labelled with a customer

Writes ``--events`` lines straight to the daily files of ``--hosts`` directories
(``ROOT/host-N/logs/tokens``; one event every ``days * 86400 / events`` seconds, host, model
and sizes in turn, some prompts past the first long-context band, one call in 50 failed),
builds each directory's stats once (as a writer's stats update does), then runs each report
as a user does (a fresh ``asynctokens`` process over the glob of all directories) and prints
its wall time and peak RSS, with the largest monthly stats file. Every report's
per-day request counts are checked against the counts the generator kept, so a fast wrong
answer fails the run. ``--keep DIR`` writes (or reuses) the directories there. With
``--labels N`` every call carries ``{"customer": "c-NNN"}`` (N customers in turn) and the
reports by customer (``summary --by customer``, ``monthly --by customer``, ``daily --by
customer``, ``summary --where``) are timed too, their requests per customer checked the same
way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from asynctokens.record._format import STATS_VERSION

ROOT = Path(__file__).resolve().parents[1]
START = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
ZONES = ("UTC", "America/New_York", "Europe/Lisbon", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Eucla")  # fmt: skip
APIS = ("openai", "anthropic", "gemini", "mistral")
#: The child that runs one report: the CLI in-process, then its own peak RSS on stderr.
_CHILD = (
    "import resource, sys\n"
    "from asynctokens import cli\n"
    "code = cli.main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def write_fleet(
    root: Path, events: int, hosts: int, days: int, models: int, labels: int = 0
) -> dict[str, Any]:
    """The directories, and the requests per day the reports must show, per zone."""
    step_us = days * 86_400_000_000 // events
    start_us = int(START.timestamp()) * 1_000_000
    names = [(APIS[m % len(APIS)], f"model-{m:02d}") for m in range(models)]
    zones = {z: ZoneInfo(z) for z in ZONES}
    expected: dict[str, dict[str, int]] = {z: {} for z in ZONES}
    by_customer: dict[str, int] = {}
    dirs = [root / f"host-{h}" / "logs" / "tokens" for h in range(hosts)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[int, str], list[str]] = {}
    day_text = ""
    day_end_us = -1
    for i in range(events):
        ts_us = start_us + i * step_us
        if ts_us >= day_end_us:  # a new UTC day: write the one before
            for (h, day), lines in files.items():
                (dirs[h] / f"tokens_{day}.jsonl").write_text("".join(lines))
            files.clear()
            day_start_s = ts_us // 86_400_000_000 * 86_400
            day_text = dt.datetime.fromtimestamp(day_start_s, dt.UTC).date().isoformat()
            day_end_us = (day_start_s + 86_400) * 1_000_000
            minute_days: dict[int, list[str]] = {}
        h, m = i % hosts, (i // hosts) % models
        api, model = names[m]
        sec_of_day, us = divmod(ts_us - (day_end_us - 86_400_000_000), 1_000_000)
        hh, rest = divmod(sec_of_day, 3600)
        mm, ss = divmod(rest, 60)
        ts = f"{day_text}T{hh:02d}:{mm:02d}:{ss:02d}.{us:06d}+00:00"
        p = 200 + (i * 7919) % 40_000  # one in five past 32k tokens, the first band
        c = 20 + (i * 104_729) % 2_000
        cached = p // 4 if i % 3 == 0 else 0
        ok = i % 50 != 0
        tail = ""
        if labels:
            customer = f"c-{(i // 7) % labels:03d}"
            by_customer[customer] = by_customer.get(customer, 0) + 1
            tail = f',"labels":{{"customer":"{customer}"}}'
        files.setdefault((h, day_text), []).append(
            f'{{"event_id":"h{h}-{i}","ts":"{ts}","api_type":"{api}","model":"{model}",'
            f'"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{p + c},'
            f'"cached_tokens":{cached},"cache_write_tokens":0,"reasoning_tokens":0,'
            f'"success":{"true" if ok else "false"},'
            f'"error_message":{"null" if ok else chr(34) + "429 rate limit" + chr(34)},'
            f'"latency_ms":{100 + i % 900}.5,"api_key_suffix":null,"request_id":null,'
            f'"metadata":{{}},"pid":{1000 + h},"host":"host-{h}"{tail}}}\n'
        )
        minute = (ts_us // 60_000_000) * 60  # zone offsets change on whole minutes
        local_days = minute_days.get(minute)
        if local_days is None:
            instant = dt.datetime.fromtimestamp(minute, dt.UTC)
            local_days = minute_days[minute] = [
                instant.astimezone(tz).date().isoformat() for tz in zones.values()
            ]
        for z, local in zip(ZONES, local_days, strict=True):
            counts = expected[z]
            counts[local] = counts.get(local, 0) + 1
    for (h, day), lines in files.items():
        (dirs[h] / f"tokens_{day}.jsonl").write_text("".join(lines))
    return {"expected": expected, "by_customer": by_customer, "dirs": [str(d) for d in dirs]}


def _stats_version(log_dir: Path) -> Any:
    try:
        return orjson.loads((log_dir / "token_stats.json").read_bytes()).get("format_version")
    except (OSError, orjson.JSONDecodeError):
        return None


def build_stats(dirs: list[Path]) -> None:
    """What a writer's stats update does when it finds lines it did not write: fold them.

    In a child process: a report's peak RSS is read in a process forked from this one, and
    Linux counts the pages of the process it was forked from (a stats build's) in it."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom asynctokens.stats import _update\n"
        "for d in sys.argv[1:]:\n    _update.update(Path(d), {}, 0o600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, *map(str, dirs)], env=env, check=True)


def _run(args: list[str]) -> tuple[float, int, bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, check=True,
                         capture_output=True)  # fmt: skip
    wall = time.perf_counter() - t0
    rss_kb = int(out.stderr.decode().rsplit("maxrss_kb ", 1)[1].split()[0])
    return wall, rss_kb // 1024, out.stdout


def measure(
    root: Path,
    expected: dict[str, dict[str, int]],
    rounds: int,
    by_customer: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    glob = str(root / "*" / "logs" / "tokens")
    reports: list[tuple[str, list[str], str | None]] = [
        (f"daily --timezone {z}", ["daily", "--timezone", z], z) for z in ZONES
    ]
    reports += [
        ("monthly", ["monthly"], None),
        ("monthly --timezone Asia/Kolkata", ["monthly", "--timezone", "Asia/Kolkata"], None),
        ("models", ["models"], None),
        ("hosts", ["hosts"], None),
        ("summary", ["summary"], None),
    ]
    if by_customer:
        reports += [
            ("summary --by customer", ["summary", "--by", "customer"], "customer"),
            ("monthly --by customer", ["monthly", "--by", "customer"], "month/customer"),
            ("daily --by customer", ["daily", "--by", "customer"], None),
            ("summary --where customer=c-001", ["summary", "--where", "customer=c-001"], None),
        ]
    rows = []
    for name, argv, zone in reports:
        walls, rss = [], 0
        for _ in range(rounds):
            wall, rss_mb, out = _run([*argv, "--log-dir", glob, "--json"])
            walls.append(wall)
            rss = max(rss, rss_mb)
        if zone == "customer":
            got = {c: r["total_requests"] for c, r in orjson.loads(out)["rows"].items()}
            if got != by_customer:
                raise SystemExit(f"{name}: the report's requests per customer differ")
        elif zone == "month/customer":  # each customer's months add up to its calls
            summed: dict[str, int] = {}
            for month in orjson.loads(out)["rows"].values():
                for c, r in month["breakdown"].items():
                    summed[c] = summed.get(c, 0) + r["total_requests"]
            if summed != by_customer:
                raise SystemExit(f"{name}: the report's requests per customer differ")
        elif zone is not None:  # exact, not only fast
            got = {d: r["total_requests"] for d, r in orjson.loads(out)["rows"].items()}
            if got != expected[zone]:
                raise SystemExit(f"{name}: the report's requests per day differ from the lines")
        rows.append({"report": name, "median_s": sorted(walls)[len(walls) // 2], "rss_mb": rss})
    return rows


def render(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        f"{info['events']:,} events, {info['hosts']} hosts, {info['days']} days,"
        f" {info['models']} models: {info['gb']:.2f} GB of lines; stats built in"
        f" {info['stats_s']:.1f} s; largest monthly stats file {info['month_mb']:.2f} MB"
        f" (cells), {info['quarters_mb']:.2f} MB (quarters)",
        "",
        "| report (fresh process, all hosts' directories) | median s | peak RSS MB |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{r['report']}` | {r['median_s']:.2f} | {r['rss_mb']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.year_bench", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--labels", type=int, default=0, help="customers to label calls with")
    parser.add_argument("--keep", type=Path, help="write the directories here (reused if there)")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="asynctokens-year-"))
    manifest = root / "manifest.json"
    try:
        if manifest.exists():
            made = orjson.loads(manifest.read_bytes())
        else:
            t0 = time.perf_counter()
            made = write_fleet(root, args.events, args.hosts, args.days, args.models, args.labels)
            print(f"wrote the lines in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        dirs = [Path(d) for d in made["dirs"]]
        if "stats_s" not in made or _stats_version(dirs[0]) != STATS_VERSION:
            t0 = time.perf_counter()  # new lines, or kept ones whose stats are of a past layout
            build_stats(dirs)
            made["stats_s"] = time.perf_counter() - t0
            manifest.write_bytes(orjson.dumps(made))
        info = {
            "events": args.events, "hosts": args.hosts, "days": args.days,
            "models": args.models, "stats_s": made["stats_s"],
            "gb": sum(p.stat().st_size for d in dirs for p in d.glob("tokens_*.jsonl")) / 1e9,
            "month_mb": max(p.stat().st_size for d in dirs
                            for p in d.glob("token_stats_*.json")) / 1e6,
            "quarters_mb": max(p.stat().st_size for d in dirs
                               for p in d.glob("token_stats_*.quarters")) / 1e6,
        }  # fmt: skip
        print(render(measure(root, made["expected"], args.rounds, made.get("by_customer")), info))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
