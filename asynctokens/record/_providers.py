"""Which provider a model name belongs to, for calls logged without ``api_type``.

A call logged as ``log_tokens(1200, 350, model="gpt-4o")`` must not be counted (and priced)
under some default provider: the name says it is OpenAI's. Only names whose family is
unambiguous are recognised; anything else is ``"unknown"``, never a guess, so a report shows
the gap instead of a wrong provider. An explicit ``api_type`` is always kept as given.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

UNKNOWN: Final = "unknown"
#: The api_type of calls to a local or private endpoint (vLLM, Ollama): no provider bills
#: them, so reports price them only by the user's own price files.
SELF_HOSTED: Final = "self-hosted"

#: A route's first segment that names the provider (``openai/gpt-4o``, LiteLLM and
#: OpenRouter style); ``models/`` (Google's REST prefix) names none and is skipped.
_ROUTES: Final = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "google": "gemini",
    "vertex_ai": "vertex_ai",
    "bedrock": "bedrock",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "groq": "groq",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "cohere": "cohere",
}

#: Model families, first match wins. Google's ``text-embedding-004`` is tested before
#: OpenAI's ``text-embedding-*``; Bedrock's ids (``anthropic.claude-...``, ``us.meta.llama...``)
#: before the bare families they contain.
_FAMILIES: Final = tuple(
    (re.compile(pattern, re.IGNORECASE), provider)
    for pattern, provider in (
        (
            r"^(?:[a-z]{2}\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek)\.[a-z]",
            "bedrock",
        ),
        (r"^(?:gemini|gemma|imagen|veo|learnlm)-|^text-embedding-00\d|^embedding-00\d", "gemini"),
        (
            r"^(?:gpt-|chatgpt-|o\d+(?:-|$)|text-embedding-|(?:omni|text)-moderation|dall-e"
            r"|whisper-|tts-|davinci|babbage|computer-use|codex-)",
            "openai",
        ),
        (r"^claude-", "anthropic"),
        (
            r"^(?:open-)?(?:mistral|mixtral|codestral|magistral|ministral|pixtral|devstral)",
            "mistral",
        ),
        (r"^deepseek-", "deepseek"),
        (r"^grok-", "xai"),
        (r"^(?:command(?:-|$)|embed-(?:english|multilingual))", "cohere"),
    )
)


@lru_cache(maxsize=4096)
def provider_of(model: str) -> str:
    """The ``api_type`` a model name implies: ``gpt-4o`` -> ``openai``, else ``unknown``."""
    name = model.strip()
    while "/" in name:
        first, _, rest = name.partition("/")
        provider = _ROUTES.get(first.lower())
        if provider is not None:
            return provider
        name = rest
    for pattern, provider in _FAMILIES:
        if pattern.search(name):
            return provider
    return UNKNOWN
