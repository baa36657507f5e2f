"""The ``asynctokens reconcile`` command: its options and what it prints and returns.

Exit codes, for cron and CI: 0 when every row is within the tolerance, 1 when any is not,
2 for an error (no key, a refused key, the network, a reply that cannot be read).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from asynctokens.render._numbers import literal

#: Exit code when a row is outside the tolerance.
EXIT_DIFFERS = 1


def add_parser(sub: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    rec: argparse.ArgumentParser = sub.add_parser(
        "reconcile",
        help="compare the logs with the provider's own usage and cost reports (network, an"
        " admin key from the environment)",
    )
    rec.add_argument("provider", choices=("openai", "anthropic", "google"))
    rec.add_argument(
        "--log-dir", action="append", help="as for the reports: repeatable, globs accepted"
    )
    rec.add_argument("--since", help="first UTC day, YYYY-MM-DD (default: 7 days before --until)")
    rec.add_argument("--until", help="last UTC day, YYYY-MM-DD, included (default: yesterday)")
    rec.add_argument(
        "--tolerance", type=float, default=1.0, metavar="PCT",
        help="largest difference, in percent of the provider's figure, that still agrees"
        " (default 1)",
    )  # fmt: skip
    rec.add_argument(
        "--key-env", metavar="NAME",
        help="the environment variable holding the admin key (default OPENAI_ADMIN_KEY or"
        " ANTHROPIC_ADMIN_KEY); the key is never a flag, never printed or written",
    )  # fmt: skip
    rec.add_argument("--base-url", help="the provider's API root (a proxy, a test server)")
    rec.add_argument("--project", help="OpenAI: only this project's usage")
    rec.add_argument("--workspace", help="Anthropic: only this workspace's usage")
    rec.add_argument(
        "--from", dest="saved", metavar="FILE",
        help="read saved provider replies instead of the network (see --save)",
    )  # fmt: skip
    rec.add_argument(
        "--save", metavar="FILE", help="also write the provider's replies here, for --from"
    )
    rec.add_argument(
        "--billing-export", metavar="FILE",
        help="google: a Cloud Billing export, CSV (the Gemini API has no usage API)",
    )  # fmt: skip
    rec.add_argument(
        "--by-tier", action="store_true",
        help="each service tier (flex, priority, scale, batch) of a model apart, on both sides"
        " (the logs' side from the stats, which keep each call's tier)",
    )  # fmt: skip
    rec.add_argument("--json", action="store_true", help="print the comparison as JSON")
    return rec


def _day(value: str | None, flag: str, default: _dt.date) -> _dt.date:
    if value is None:
        return default
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"bad {flag} {value!r}: use a UTC day, YYYY-MM-DD") from None


def run(args: argparse.Namespace, book: Any) -> int:
    from asynctokens import reconcile

    if args.tolerance < 0:
        raise ValueError(f"--tolerance must be >= 0 (percent), got {args.tolerance:g}")
    yesterday = _dt.datetime.now(_dt.UTC).date() - _dt.timedelta(days=1)
    until = _day(args.until, "--until", yesterday)
    since = _day(args.since, "--since", until - _dt.timedelta(days=6))
    saved = None
    if args.saved:
        try:
            saved = json.loads(Path(args.saved).read_bytes())
        except (OSError, ValueError) as exc:
            raise reconcile.ReconcileError(
                f"cannot read saved replies {args.saved!r}: {exc}"
            ) from None
    scope = args.project if args.provider == "openai" else args.workspace
    if saved is None and args.provider != "google":
        saved = reconcile.fetch(
            args.provider, since, until,
            key_env=args.key_env, base_url=args.base_url, scope=scope, by_tier=args.by_tier,
        )  # fmt: skip
        if args.save:
            _save(Path(args.save), saved)
    report = reconcile.run(
        args.provider, args.log_dir, since, until,
        tolerance_pct=args.tolerance, key_env=args.key_env, base_url=args.base_url,
        scope=scope, saved=saved, prices=book, billing_export=args.billing_export,
        by_tier=args.by_tier,
    )  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        from asynctokens.render import reconcile as render
        from asynctokens.render import terminal

        render.table(report, terminal.console())
    return 0 if report["ok"] else EXIT_DIFFERS


def _save(path: Path, saved: dict[str, Any]) -> None:
    """The provider's replies, owner-only (they hold no key, but are the account's usage)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f)
    print(f"saved the provider's replies to {literal(str(path))}", file=sys.stderr)
