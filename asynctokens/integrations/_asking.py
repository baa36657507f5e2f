"""Asking an OpenAI chat or completions stream for its usage, and doing without it where the
endpoint refuses the question.

A chat stream reports its usage only when asked (``stream_options={"include_usage": True}``),
so an instrumented client asks for it. Not every endpoint the ``openai`` SDK is pointed at
knows that option: Azure OpenAI before API version 2024-09-01-preview, and some
OpenAI-compatible servers, answer 400 ("Unrecognized request argument supplied:
stream_options"). The user's call must not fail for a question they did not ask: the request
is sent again as the user made it, and that endpoint is not asked again in this process.
"""

from __future__ import annotations

from typing import Any, Final

#: What ``ask`` returns when it did not ask (the user did, or the endpoint refused before).
NOT_ASKED: Final = object()
#: What the user's ``stream_options`` was when they passed none.
_NONE_GIVEN: Final = object()

#: The endpoints (base URL and API version) that refused ``stream_options``, this process.
_REFUSED: set[str] = set()


def endpoint_of(owner: Any) -> str:
    """The endpoint a resource object (``client.chat.completions``) sends to: its client's
    base URL and, for Azure, its API version (whether the option is known depends on it)."""
    client = getattr(owner, "_client", None)
    return f"{getattr(client, 'base_url', '')} {getattr(client, '_api_version', '')}"


def ask(kwargs: dict[str, Any], endpoint: str) -> Any:
    """Ask for the usage chunk in the call's ``kwargs``: the user's own ``stream_options``
    (to put back if the endpoint refuses), or ``NOT_ASKED``."""
    options = kwargs.get("stream_options", _NONE_GIVEN)
    if isinstance(options, dict) and options.get("include_usage") is True:
        return NOT_ASKED  # the user asked: their stream, usage chunk included
    if endpoint in _REFUSED:
        return NOT_ASKED
    kwargs["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return options


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the endpoint refusing ``stream_options`` (a 400 or 422 naming it)."""
    return getattr(exc, "status_code", None) in (400, 422) and "stream_options" in str(exc)


def withdraw(kwargs: dict[str, Any], asked: Any, endpoint: str) -> None:
    """Put the user's ``stream_options`` back, and remember not to ask ``endpoint`` again."""
    _REFUSED.add(endpoint)
    if asked is _NONE_GIVEN:
        kwargs.pop("stream_options", None)
    else:
        kwargs["stream_options"] = asked
