"""Which SDK methods send requests, and how each is captured: a table that fails when a new
SDK release adds one nobody has looked at.

OpenAI and Anthropic clients are observed at their HTTP transport once instrumented, so every
request they send is read, wrapped method or not (tests/test_transport.py); here each of
their clients, sync and async and their copies, is checked to be observed, and the methods
wrapped for their SDK objects are listed. Google GenAI clients are captured method by method:
every public method of the namespaces that send requests is in the table below with what
happens to it, and a method the table does not know fails the test.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from asynctokens import TokenTracker
from asynctokens.integrations import _transport
from tests.sdk_replies import Replies, anthropic_client, gemini_client, openai_client

WRAPPED = "logged per request from the SDK's object"
FREE = "not billed by tokens (free, or priced per image, second or storage)"
#: Every public method of ``client.models`` (and ``client.aio.models``), as of the pinned SDK.
GEMINI_MODELS: dict[str, str] = {
    "generate_content": WRAPPED + " (each automatic function calling hop, linked)",
    "generate_content_stream": WRAPPED + " (each hop, linked)",
    "embed_content": WRAPPED + " (its input tokens; a reply without counts: a warning)",
    "count_tokens": FREE,
    "compute_tokens": FREE,
    "generate_images": FREE,
    "edit_image": FREE,
    "upscale_image": FREE,
    "recontext_image": FREE,
    "segment_image": FREE,
    "generate_videos": FREE,
    "get": FREE,
    "list": FREE,
    "update": FREE,
    "delete": FREE,
}
AT_TRANSPORT = "read at the transport, each request once (tests/test_gemini_interactions.py)"
#: Every public method of ``client.interactions`` and ``client.aio.interactions``.
GEMINI_INTERACTIONS: dict[str, str] = {
    "create": AT_TRANSPORT,
    "get": AT_TRANSPORT + " (a background job's finished result, once per id)",
    "cancel": AT_TRANSPORT,
    "delete": FREE,
    "do_request": AT_TRANSPORT,
    "do_request_async": AT_TRANSPORT,
    "with_raw_response": AT_TRANSPORT,
    "with_streaming_response": AT_TRANSPORT,
    "parent_ref": "an attribute, not a request",
    "connect": "not captured: a live WebSocket session, outside the HTTP transport (log"
    " with tracker.log_tokens)",
}
#: The client's namespaces: those whose calls bill tokens, and how.
GEMINI_NAMESPACES: dict[str, str] = {
    "models": "see GEMINI_MODELS",
    "aio": "the same namespaces, async",
    "chats": "each message through models.generate_content: captured",
    "interactions": "see GEMINI_INTERACTIONS",
    "batches": "not captured: batch results arrive as files (log with log_response)",
    "caches": FREE,
    "files": FREE,
    "file_search_stores": FREE,
    "tunings": FREE,
    "operations": FREE,
    "auth_tokens": FREE,
    "agents": FREE + ": agent definitions; an agent's runs are interactions",
    "credentials": FREE,
    "decisions": FREE,
    "environments": FREE,
    "triggers": FREE,
    "voices": FREE,
    "webhooks": FREE,
    "vertexai": "a flag, not a namespace",
    "close": "closes the client",
}


def public(obj: Any) -> set[str]:
    return {name for name in dir(type(obj)) if not name.startswith("_")}


def test_every_public_method_of_gemini_models_is_in_the_table(make_tracker: Any) -> None:
    client = make_tracker().instrument(gemini_client(Replies()))
    for models in (client.models, client.aio.models):
        methods = {n for n in public(models) if callable(getattr(models, n))}
        assert methods == set(GEMINI_MODELS), "a method to look at: add it to GEMINI_MODELS"
        for name, how in GEMINI_MODELS.items():
            # the method, or the private one that sends each of its requests, is wrapped
            sends = getattr(models, f"_{name}", None)
            wrapped = [getattr(m, "__asynctokens_tracker__", None) for m in
                       (getattr(models, name), sends)]  # fmt: skip
            assert (wrapped != [None, None]) == how.startswith(WRAPPED), name


def test_every_namespace_of_a_gemini_client_is_in_the_table() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" notes of some namespaces
        assert public(gemini_client(Replies())) == set(GEMINI_NAMESPACES)


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_openai_and_anthropic_clients_and_their_copies_are_observed_at_the_transport(
    make_tracker: Any, sdk: str, asynchronous: bool
) -> None:
    tracker: TokenTracker = make_tracker()
    make = openai_client if sdk == "openai" else anthropic_client
    client = tracker.instrument(make(Replies(), asynchronous=asynchronous))
    observed = (_transport._Observed, _transport._AsyncObserved)
    for each in (client, client.with_options(timeout=5), client.copy(max_retries=1)):
        assert isinstance(each._client._transport, observed)


def test_every_method_of_gemini_interactions_is_in_the_table_and_observed(
    make_tracker: Any,
) -> None:
    client = make_tracker().instrument(gemini_client(Replies()))
    found = public(client.interactions) | public(client.aio.interactions)
    assert found == set(GEMINI_INTERACTIONS), "a method to look at: add it to GEMINI_INTERACTIONS"
    api = client._api_client
    for http in (api._httpx_client, api._async_httpx_client):
        assert isinstance(http._transport, (_transport._Observed, _transport._AsyncObserved))
