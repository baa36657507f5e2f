"""The provider a client talks to, from its endpoint, not from the SDK it is made with.

The ``openai`` SDK is the client of Azure OpenAI, Groq, DeepSeek, Together, OpenRouter,
Mistral, xAI, Fireworks, vLLM and Ollama alike, and ``anthropic`` that of Bedrock and Vertex
AI: the SDK says how to read a reply, the host says who bills it, so the host names the
``api_type`` that pricing and reports see. A host on this machine or a private network is
``self-hosted``; a host not known here keeps its own name (``llm.example.com``), so two
gateways never merge into one row.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final
from urllib.parse import urlsplit

from asynctokens.record._providers import SELF_HOSTED

#: Host (or the domain it ends with) -> api_type; the names pricing looks providers up by.
_HOSTS: Final = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure"),
    ("cognitiveservices.azure.com", "azure"),
    ("services.ai.azure.com", "azure"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gemini"),
    ("aiplatform.googleapis.com", "vertex"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("openrouter.ai", "openrouter"),
    ("api.mistral.ai", "mistral"),
    ("api.x.ai", "xai"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
)
_LOCAL_SUFFIXES: Final = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def api_type_of_url(url: str, sdk_default: str) -> str:
    """The api_type of a base URL; ``sdk_default`` when there is no URL to read."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return sdk_default
    if not host:
        return sdk_default
    for domain, api_type in _HOSTS:
        # a region or resource prefix: us-east5-aiplatform..., my-resource.openai.azure.com
        if host == domain or host.endswith(("." + domain, "-" + domain)):
            return api_type
    if host.startswith("bedrock") and host.endswith(".amazonaws.com"):
        return "bedrock"
    if _is_local(host):
        return SELF_HOSTED
    return host


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        return True  # a single-label name is a machine on the local network (ollama, vllm)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def api_type_of_client(client: Any, sdk_default: str) -> str:
    """The api_type of an SDK client, read from its base URL (Gemini: its Vertex AI flag)."""
    base_url = getattr(client, "base_url", None)
    if base_url is None:  # google-genai keeps it in its API client's options
        api_client = getattr(client, "_api_client", None)
        if getattr(api_client, "vertexai", False) is True:
            return "vertex"
        options = getattr(api_client, "_http_options", None)
        base_url = getattr(options, "base_url", None)
    return sdk_default if base_url is None else api_type_of_url(str(base_url), sdk_default)
