"""Demo: an async service logs the tokens of a burst of LLM calls, then prints what they cost.

Run: python examples/demo.py   (writes under logs/tokens, or $ASYNCTOKENS_LOG_DIR)
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

from asynctokens import TokenTracker, labels

CALLS = [
    # (api_type, model, prompt, completion, cached, reasoning)
    ("openai", "gpt-4o", 1_200, 350, 512, 0),
    ("openai", "gpt-4o-mini", 800, 120, 0, 0),
    ("openai", "o3-mini", 900, 2_400, 0, 1_800),
    ("anthropic", "claude-sonnet-4-5", 3_000, 600, 2_048, 0),
    ("gemini", "gemini-2.5-flash", 150, 320, 0, 0),
    ("gemini", "gemini-2.5-flash-lite", 250, 500, 0, 0),
]


CUSTOMERS = ("acme", "globex", "initech")


async def fake_llm_call(tracker: TokenTracker, rng: random.Random, who: random.Random) -> None:
    # every random draw before the first await, so the demo's totals are the same each run
    api_type, model, prompt, completion, cached, reasoning = rng.choice(CALLS)
    failed = rng.random() < 0.05
    latency_ms = round(rng.uniform(200, 2_000), 1)
    with labels(customer=who.choice(CUSTOMERS)):  # every call logged inside carries it
        await asyncio.sleep(latency_ms / 1_000_000)  # the "network"
        _log(tracker, api_type, model, prompt, completion, cached, reasoning, failed, latency_ms)


def _log(tracker: TokenTracker, api_type: str, model: str, prompt: int, completion: int,
         cached: int, reasoning: int, failed: bool, latency_ms: float) -> None:  # fmt: skip
    if failed:
        tracker.log(0, 0, api_type, model, success=False, error_message="429 quota exceeded")
        return
    tracker.log(
        prompt,
        completion,
        api_type,
        model,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        latency_ms=latency_ms,
        metadata={"demo": True},
    )


async def main() -> None:
    rng, who = random.Random(42), random.Random(7)
    async with TokenTracker() as tracker:  # worker runs as a task of this event loop
        await asyncio.gather(*(fake_llm_call(tracker, rng, who) for _ in range(500)))
    print(f"logged 500 calls to {tracker.log_dir}\n")
    tracker.print_summary()


if __name__ == "__main__":
    asyncio.run(main())
    if "--no-report" not in sys.argv:
        # the read-only report command, if this version has it
        subprocess.run([sys.executable, "-m", "asynctokens", "summary"], check=False)
