"""The ``Usage`` record and the few helpers every provider reader shares.

A reader never imports an SDK: it recognises objects by shape (attribute or key names), so
the same code reads a pydantic model built by the SDK and the JSON of the REST API given as a
dict. ``get`` is the one accessor that makes those two look alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

#: error_message of a stream that was left before its end: counts are those reported so far.
ABANDONED: Final = "stream closed before its end: token counts are those reported so far"
#: error_message of a stream left before the provider reported any usage.
ABANDONED_UNKNOWN: Final = "stream closed before usage was reported: token counts unknown"


@dataclass(frozen=True, slots=True)
class Usage:
    """The tokens of one API call, in the file format's meanings.

    ``prompt_tokens`` is ALL input (cached and cache-written included) and
    ``completion_tokens`` ALL output (reasoning included), whatever the provider calls them.
    ``model`` is the model the response names (the served snapshot), ``request_id`` the
    provider's request id where the object carries it, else the response id.
    """

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    api_type: str = "unknown"
    model: str | None = None
    request_id: str | None = None
    success: bool = True
    error_message: str | None = None
    operation: str = "chat"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def abandoned(self) -> Usage:
        """This usage marked as a stream left before its end."""
        return replace(self, success=False, error_message=ABANDONED)


def get(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict (REST JSON), ``obj.name`` for anything else; None if absent."""
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def count(value: Any) -> int:
    """A reported count as an int: None (not reported) is 0, as the file format says.

    Anything else that is not an int is passed on unchanged, so the call-site checks of
    ``log_tokens()`` name the field and the bad value instead of this module guessing.
    """
    return 0 if value is None else value


def text(value: Any) -> str | None:
    """A str-valued field, or None for anything else (an absent or mocked attribute)."""
    return value if isinstance(value, str) and value else None


def header(obj: Any, name: str) -> str | None:
    """A response header from an SDK object's raw HTTP response, where it keeps one."""
    response = getattr(obj, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        return text(headers.get(name))
    except Exception:  # a mock or an unexpected headers type: no header, not an error
        return None


def error_text(status: object, kind: object, message: object) -> str:
    """``"429 rate_limit_error: <message>"``: the status and error type first, as reports show.

    Parts that are missing are left out; a status of 200 (an error event inside a stream that
    started well) is left out too, since it is not the error's status.
    """
    parts = []
    if isinstance(status, int) and status != 200:
        parts.append(str(status))
    if isinstance(kind, str) and kind:
        parts.append(kind)
    head = " ".join(parts)
    body = message.strip() if isinstance(message, str) else ""
    if head and body:
        return f"{head}: {body}"
    return head or body or "unknown error"
