"""Model names as logged -> the names a price source knows, and api_type -> provider ids.

Names reach the logs in many spellings of the same model: Google's ``models/gemini-2.5-flash``,
LiteLLM and OpenRouter's ``openai/gpt-4o``, Bedrock's ``anthropic.claude-...-v1:0``, dated
snapshots such as ``gpt-4o-2024-08-06``. A source is asked for the name as logged first, then
for these readings of it, most specific first.
"""

from __future__ import annotations

import re
from typing import Final

#: asynctokens' api_type values (and common spellings) -> genai-prices provider ids.
PROVIDER_IDS: Final = {
    "openai": "openai",
    "azure": "azure",
    "azure_openai": "azure",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "google": "google",
    "vertex": "google",
    "vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "bedrock": "aws",
    "aws": "aws",
    "aws.bedrock": "aws",
    "mistral": "mistral",
    "mistral_ai": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "x_ai": "x-ai",
    "grok": "x-ai",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "cohere": "cohere",
    "openrouter": "openrouter",
    "perplexity": "perplexity",
}

#: Suffixes providers append to a model name for a dated snapshot or a deployment route.
_SNAPSHOT_SUFFIX: Final = re.compile(
    r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest|-\d{3}|-v\d+(:\d+)?)+$"
)
#: ``models/``, ``openai/``, ``vertex_ai/gemini/``...; Bedrock's ``anthropic.`` prefix.
_ROUTE_PREFIX: Final = re.compile(r"^([A-Za-z0-9_.-]+/)+|^(anthropic|openai|google|meta)\.")


def readings(model: str) -> list[tuple[str | None, str]]:
    """``(provider hint, name)`` pairs to look up, the name as logged first.

    The hint is the first segment of a route prefix (``openai`` of ``openai/gpt-4o``), which
    names the provider better than the api_type does when a router was called.
    """
    out: list[tuple[str | None, str]] = [(None, model)]
    m = _ROUTE_PREFIX.match(model)
    bare = model
    hint = None
    if m:
        bare = model[m.end() :]
        first = m.group(0).split("/")[0].rstrip(".")
        hint = first or None
        if bare:
            out.append((hint, bare))
    undated = _SNAPSHOT_SUFFIX.sub("", bare)
    if undated and undated != bare:
        out.append((hint, undated))
    return out
