"""The ``Usage`` record and the few helpers every provider reader shares.

A reader never imports an SDK: it recognises objects by shape (attribute or key names), so
the same code reads a pydantic model built by the SDK and the JSON of the REST API given as a
dict. ``view`` is the one accessor that makes those two look alike: ``view(obj).get(name)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final, Literal, get_args, get_origin

from asynctokens.record._event import TOKENS_LIMIT

#: error_message of a stream that was left before its end: counts are those reported so far.
ABANDONED: Final = "stream closed before its end: token counts are those reported so far"
#: error_message of a stream left before the provider reported any usage.
ABANDONED_UNKNOWN: Final = "stream closed before usage was reported: token counts unknown"
#: How a note ends for a count nobody can read or that is missing (the line's counts are
#: then not all known).
UNKNOWN_NOTE: Final = "unknown, counted as 0"


@dataclass(frozen=True)
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
    #: What was changed to bring the provider's counts into the file format's meanings
    #: (docs/integrations.md, "Counts a provider reports oddly"); empty for most replies.
    adjustments: tuple[str, ...] = ()
    #: The service tier the reply says it was served at (OpenAI ``service_tier``: default,
    #: flex, priority, scale; Anthropic ``usage.service_tier``: standard, priority, batch):
    #: what it is priced at. None when the reply does not say.
    service_tier: str | None = None
    #: Of ``cache_write_tokens``, those kept for an hour (Anthropic's ``cache_creation``
    #: ``ephemeral_1h_input_tokens``), billed at another rate than 5-minute writes.
    cache_write_1h_tokens: int = 0
    #: Whether some count is unknown, written as 0: the reply reported none, or one
    #: nobody could read, or a stream ended before its usage. The line says so
    #: (``counts_unknown``) and reports call their totals a lower bound.
    counts_unknown: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def abandoned(self) -> Usage:
        """This usage marked as a stream left before its end: the counts reported so far,
        a lower bound (the provider bills what it generated until it saw the close)."""
        return replace(self, success=False, error_message=ABANDONED, counts_unknown=True)


#: What a provider's ``fast_fields`` reads from a whole reply of the common shape: prompt,
#: completion, cached, cache-written and reasoning tokens (in the file format's meanings),
#: the served model, the request id, the service tier and the 1-hour cache writes.
Fields = tuple[int, int, int, int, int, str | None, str | None, str | None, int]


def named(fields: Fields | None, model: str | None, request_id: str | None) -> Fields | None:
    """``fields`` with the served model and request id a stream named apart from its usage
    (a header, an earlier chunk) where the fields name none: :func:`filled` for fields."""
    if fields is None or (fields[5] is not None and fields[6] is not None):
        return fields
    prompt, completion, cached, written, reasoning, served, rid, tier, hour = fields
    return (prompt, completion, cached, written, reasoning, served or model, rid or request_id,
            tier, hour)  # fmt: skip


_new = object.__new__
_set = object.__setattr__


def make_usage(
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    cache_write_tokens: int,
    reasoning_tokens: int,
    api_type: str,
    model: str | None,
    request_id: str | None,
    success: bool = True,
    error_message: str | None = None,
    operation: str = "chat",
    notes: list[str] | None = None,
    service_tier: str | None = None,
    cache_write_1h_tokens: int = 0,
) -> Usage:
    """``Usage(...)`` for the readers, in a third of the time, with the parts within wholes.

    A frozen dataclass sets its 12 fields one ``object.__setattr__`` at a time (about 1.7 us
    here); the readers run on every logged response, so they fill the instance dict at once.
    The result is an ordinary ``Usage``: equal, hashable and ``replace()``-able as any other.

    A billed reply is never dropped for its counts: a part reported above its whole means
    the provider left the part out of the whole (an OpenAI-compatible server whose
    ``completion_tokens`` excludes reasoning), so the part is added to it, and ``notes``
    (what :func:`count` read oddly) and these changes are kept in ``adjustments``.
    """
    if reasoning_tokens > completion_tokens:
        notes = [] if notes is None else notes
        notes.append(
            f"reasoning_tokens ({reasoning_tokens}) reported outside completion_tokens"
            f" ({completion_tokens}): added to it"
        )
        completion_tokens += reasoning_tokens
    if cached_tokens + cache_write_tokens > prompt_tokens:
        notes = [] if notes is None else notes
        notes.append(
            f"cached_tokens ({cached_tokens}) and cache_write_tokens ({cache_write_tokens})"
            f" reported outside prompt_tokens ({prompt_tokens}): added to it"
        )
        prompt_tokens += cached_tokens + cache_write_tokens
    if cache_write_1h_tokens > cache_write_tokens:
        notes = [] if notes is None else notes
        notes.append(
            f"1-hour cache writes ({cache_write_1h_tokens}) reported outside cache_write_tokens"
            f" ({cache_write_tokens}): added to it"
        )
        prompt_tokens += cache_write_1h_tokens - cache_write_tokens
        cache_write_tokens = cache_write_1h_tokens
    usage = _new(Usage)
    _set(
        usage,
        "__dict__",
        {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cached_tokens": cached_tokens,
            "cache_write_tokens": cache_write_tokens,
            "reasoning_tokens": reasoning_tokens,
            "api_type": api_type,
            "model": model,
            "request_id": request_id,
            "success": success,
            "error_message": error_message,
            "operation": operation,
            "adjustments": tuple(notes) if notes else (),
            "service_tier": service_tier,
            "cache_write_1h_tokens": cache_write_1h_tokens,
            "counts_unknown": notes is not None and any(n.endswith(UNKNOWN_NOTE) for n in notes),
        },
    )
    return usage


def changed(usage: Usage, **fields: Any) -> Usage:
    """``dataclasses.replace(usage, **fields)`` without its ``__init__``: a stream's usage
    is completed this way on every stream (``replace`` costs several microseconds)."""
    new = _new(Usage)
    _set(new, "__dict__", {**usage.__dict__, **fields})
    return new


def filled(usage: Usage | None, model: str | None, request_id: str | None) -> Usage | None:
    """``usage`` with the model and id a stream named before its usage arrived, where the
    usage itself names none (a stream's last chunk often carries counts only)."""
    if usage is None or (usage.model and usage.request_id):
        return usage
    return changed(usage, model=usage.model or model, request_id=usage.request_id or request_id)


def failed(api_type: str, error_message: str, request_id: str | None = None) -> Usage:
    """A call that failed before any usage was reported."""
    return make_usage(0, 0, 0, 0, 0, api_type, None, request_id, False, error_message)


def sdk_error(
    api_type: str, exc: BaseException, kind: object, message: object, status: object = None
) -> Usage:
    """An SDK exception as a failed call: status (``status_code`` unless given), error type
    (the class name when the SDK gives none), message, and the request id it carries."""
    return failed(
        api_type,
        error_text(
            getattr(exc, "status_code", None) if status is None else status,
            kind if isinstance(kind, str) and kind else type(exc).__name__,
            message if isinstance(message, str) else getattr(exc, "message", str(exc)),
        ),
        text(getattr(exc, "request_id", None)),
    )


class _Attributes:
    """``.get(name)`` over the attributes of an object that is neither a dict nor a model."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str) -> Any:
        return getattr(self._obj, name, None)


_EMPTY: Final[dict[str, Any]] = {}
#: What a stream folder's ``quiet()`` answers when no item of that class needs reading any
#: more (``_stream`` then keeps only the last one, read at the end).
EVERY: Final[tuple[str, Any]] = ("", None)
#: What :func:`only_value` answers for a field that can hold more than one value.
MANY: Final = object()
#: (class, field name) -> the one value that field can hold, else ``MANY``: asked once
#: per class by every stream, answered once per process.
_ONLY_VALUE: dict[tuple[type, str], Any] = {}


def only_value(cls: type, name: str) -> Any:
    """The one value field ``name`` of pydantic class ``cls`` can hold (a ``Literal`` of one
    value: the event type of an SDK event class), else ``MANY``."""
    key = (cls, name)
    found = _ONLY_VALUE.get(key, _ONLY_VALUE)
    if found is _ONLY_VALUE:
        fields = getattr(cls, "__pydantic_fields__", None)
        info = fields.get(name) if isinstance(fields, dict) else None
        annotation = getattr(info, "annotation", None)
        values = get_args(annotation) if get_origin(annotation) is Literal else ()
        found = _ONLY_VALUE[key] = values[0] if len(values) == 1 else MANY
    return found


#: Per class: is it a pydantic model? (Each SDK's objects are.)
_PYDANTIC: dict[type, bool] = {}


def view(obj: Any) -> Any:
    """Something with ``.get(name)`` (None when absent) over a dict, a model or an object.

    A pydantic model (every SDK object) keeps its fields in ``__dict__`` and the fields the
    installed SDK does not know yet in ``__pydantic_extra__``: the view is those dicts,
    because ``getattr`` of an absent name on a model costs about 3 us (pydantic builds an
    error message), 25 times a present one, and the readers ask for absent names on every
    object: that is how shapes are told apart.
    """
    if type(obj) is dict:
        return obj
    if obj is None:
        return _EMPTY
    cls = type(obj)
    pydantic = _PYDANTIC.get(cls)
    if pydantic is None:
        pydantic = _PYDANTIC[cls] = hasattr(cls, "__pydantic_fields__")
    if pydantic:
        extra = obj.__pydantic_extra__
        return {**obj.__dict__, **extra} if extra else obj.__dict__
    return _Attributes(obj)


def request_id_of(v: Any) -> str | None:
    """The provider's request id the SDKs attach to a reply (from its request-id header),
    else the reply's own id (``v`` is a :func:`view`).

    The SDKs set it as ``_request_id`` on the model, which keeps it in the instance dict. It
    is read on every instrumented reply, so the common case makes no call.
    """
    found = v.get("_request_id")
    if found.__class__ is str and found:
        return found
    return text(found) or text(v.get("id"))


def count(value: Any, field: str = "count", notes: list[str] | None = None) -> int:
    """A reported count as an int: None (not reported) is 0, as the file format says.

    A count that is not a plain int is read where it can be without loss (``12.0``,
    ``"12"``: 12) and is otherwise unknown, counted as 0; either way the reading is said in
    ``notes``, so the line flags it (a billed reply is never dropped for a bad count).
    """
    if type(value) is int and 0 <= value < TOKENS_LIMIT:
        return value
    if value is None:
        return 0
    return _odd_count(value, field, notes)


def _odd_count(value: Any, field: str, notes: list[str] | None) -> int:
    read: int | None = None
    if isinstance(value, bool):
        read = None  # True is no count, though Python calls it 1
    elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        read = int(value)
    elif isinstance(value, str) and value.strip().isdecimal():
        read = int(value.strip())
    shown = repr(value)[:40]
    if read is not None and 0 <= read < TOKENS_LIMIT:
        if notes is not None and type(value) is not int:
            notes.append(f"{field} {shown} read as {read}")
        return read
    if notes is not None:
        notes.append(f"{field} {shown} unreadable: {UNKNOWN_NOTE}")
    return 0


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
