"""A FastAPI service that logs its LLM calls and exposes what they used at ``/usage``.

Run: uvicorn examples.fastapi_usage:app   (logs under $ASYNCTOKENS_LOG_DIR or logs/tokens)

``/chat`` stands for any handler that calls a model: it logs the call with the non-blocking
``log_tokens()``. ``/usage`` answers from the log directory (every process writing it) with
``asummary``, which reads the files on a worker thread so the event loop serves on. The
lifespan drains the tracker at shutdown, so a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from asynctokens import get_tracker, log_tokens
from asynctokens.aio import abreakdown, asummary
from asynctokens.summary import Query


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await get_tracker().aclose()  # the one-line drain: every logged call is on disk


app = FastAPI(lifespan=lifespan)


@app.post("/chat")
async def chat(prompt_tokens: int = 120, completion_tokens: int = 40) -> dict[str, Any]:
    # ... call the model here; then, with the counts its response reported:
    log_tokens(prompt_tokens, completion_tokens, api_type="openai", model="gpt-4o-mini")
    return {"ok": True}


@app.get("/usage")
async def usage(since: str | None = None, by: str | None = None) -> dict[str, Any]:
    """Totals (cost included) since a day, or one row per model, api, day, month or host."""
    query = Query(since=since)
    if by:
        return await abreakdown(query, by)
    return await asummary(query)
