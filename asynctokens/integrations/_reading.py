"""Reading a response's body for its usage as it passes through an observed transport
(``_transport``): the bytes, decompressed as the client decompresses them, parsed as the
provider's JSON or event stream, and the request logged once when the body is closed.

A ``Route`` says whose request it is (the SDK client that sent it) and how to read it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any, Final

import httpx2
import orjson
from httpx2._decoders import SUPPORTED_DECODERS, MultiDecoder  # the client's own decoders

from asynctokens.integrations._call import CallLog, abandoned, failure
from asynctokens.integrations._usage import Usage, error_text, failed, text, view


@dataclass(frozen=True, slots=True)
class Route:
    """Whose requests an observer reads, and how: one per SDK client that sends through the
    httpx2 client (an application may give one httpx2 client to an OpenAI and an Anthropic
    client alike, for its connection pool)."""

    #: The SDK client's base URL: the requests it sends start with it (None: any request).
    prefix: str | None
    #: Makes the call a request is logged as (with the model asked for).
    start_call: Callable[[str | None], CallLog]
    #: The provider's reader module (``usage_of``, ``StreamUsage``, ...).
    reader: ModuleType
    #: The SDK's own SSEDecoder class, or one with its ``decode()``.
    decoder: Any
    request_id_header: str
    #: False for a stored response (OpenAI Responses) logged before.
    seen: Callable[[str | None], bool]
    #: Only requests whose URL path holds it are read (None: every one).
    only: str | None = None


#: A JSON body larger than this is not read for usage (no reply with usage comes near it).
_MAX_JSON: Final = 16 * 1024 * 1024


class Reading:
    """One request's response as it passes: its usage read from the bytes, logged once."""

    def __init__(self, response: Any, call: CallLog, route: Route) -> None:
        self.response = response
        self.call = call
        self.reader = reader = route.reader
        self.request_id = text(response.headers.get(route.request_id_header))
        self.seen = route.seen
        kind = response.headers.get("content-type", "")
        self.sse = kind.startswith("text/event-stream")
        self.json = not self.sse and "json" in kind
        self.parts: list[bytes] = []
        self.size = 0
        self.exhausted = False
        self.folder: Any = None
        self.decoder = _decoder(response.headers)
        if self.decoder is False:  # an encoding the client cannot undo: nor can we
            self.sse = self.json = False
        if self.sse:
            self.lines = _Lines()
            self.events = route.decoder()
            self.folder = reader.StreamUsage(SimpleNamespace(response=response))

    def read_already(self) -> bool:
        """A response the transport made whole (a test's mock, a cache): logged now."""
        try:
            content = self.response.content
        except httpx2.ResponseNotRead:
            return False
        self.feed(content)
        self.exhausted = True
        self.end()
        return True

    def encoded(self, chunk: bytes) -> None:
        """A piece of a compressed body: its decoded bytes are read (the client decodes
        its own copy; a decoder keeps state, so the two are never shared)."""
        try:
            for piece in self.decoder.decode(chunk):
                self.feed(piece)
        except Exception:  # a body we cannot read is the user's to read, not ours to break
            self.sse = self.json = False

    def feed(self, chunk: bytes) -> None:
        try:
            if self.sse:
                for line in self.lines.feed(chunk):
                    event = self.events.decode(line.decode("utf-8"))
                    if event is not None:
                        self._event(event.data)
            elif self.json or self.response.status_code >= 400:
                self.size += len(chunk)
                if self.size <= _MAX_JSON:
                    self.parts.append(chunk)
        except Exception:  # a body we cannot read is the user's to read, not ours to break
            self.sse = self.json = False

    def _event(self, data: str) -> None:
        # only events that can carry usage, an error or the served model are parsed: most
        # events of a long stream are text deltas
        wanted = self.folder.seen()[0] is None or "usage" in data or "error" in data
        if wanted and data.startswith("{"):
            self.folder.feed(orjson.loads(data))

    def end(self) -> None:
        """The body is closed: log the request (nothing, for a reply without usage). Called
        from the body's close, in the user's code: a failure of ours is said, not raised."""
        try:
            self._end()
        except Exception as exc:
            unread(exc)

    def _end(self) -> None:
        call = self.call
        if call.done:
            return
        if self.decoder and self.exhausted:
            self._flush()  # what a decoder holds back until the end
        api_type = call.api_type
        status = self.response.status_code
        if status >= 400:
            body = _json(self.parts)
            reason = view(view(body).get("error"))
            message = reason.get("message") or text(view(body).get("message"))
            # OpenAI and Anthropic name the kind in "type" or "code", Google in "status"
            # (its "code" is the HTTP status again, a number)
            kinds = (reason.get("type"), reason.get("code"), reason.get("status"))
            kind = next((k for k in kinds if isinstance(k, str) and k), None)
            usage: Usage | None = failed(
                api_type, error_text(status, kind, message), self.request_id
            )
        elif self.sse:
            partial = self.folder.result()
            model, request_id = self.folder.seen()
            if self.exhausted and partial is None:
                if model is not None:  # a model's reply without usage: said, counts unknown
                    call.end(None, self.response, seen=(model, request_id or self.request_id))
                usage = None  # else a stream of something that bills no tokens
            else:
                usage = (
                    partial if self.exhausted else abandoned(partial, api_type, model, request_id)
                )
        elif self.json:
            body = _json(self.parts)
            if not isinstance(body, dict) or self.reader.unfinished(body):
                usage = None  # no usage here, or a background job still running
            else:
                if self.request_id is not None:
                    body["_request_id"] = self.request_id
                usage = _usage_of(self.reader, body)
                if usage is not None and not self.seen(self.reader.finished_id(body)):
                    usage = None  # a stored response logged when it was first seen
        else:
            usage = None
            if status < 400 and call.model is not None:
                # a model's reply that is no JSON nor SSE (speech as audio bytes, a
                # transcription as plain text): billed, its counts unknown
                call.end(None, self.response, seen=(None, self.request_id))
        if usage is None:
            call.skip()
        else:
            call.end(usage)

    def _flush(self) -> None:
        try:
            for piece in self.decoder.flush():
                self.feed(piece)
        except Exception:  # a truncated compressed body: what was read stands
            return

    def failed(self, exc: BaseException) -> None:
        try:
            self.call.end(failure(exc, self.call.api_type))
        except Exception as ours:
            unread(ours)


def unread(exc: Exception) -> None:
    """Say that a request could not be read (a defect of ours, or an SDK of a new shape):
    the request itself goes on untouched."""
    warnings.warn(
        f"asynctokens could not read a request at the HTTP transport"
        f" ({type(exc).__name__}: {exc}); it is not logged",
        RuntimeWarning,
        stacklevel=3,
    )


class _Lines:
    """Bytes in, complete lines out (CRLF, LF or CR ends a line, as SSE says), whatever
    pieces the body arrives in; the SDK's own ``SSEDecoder.decode`` reads each line."""

    def __init__(self) -> None:
        self.rest = b""
        self.after_cr = False  # the last piece ended in CR: a LF opening the next is its end

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self.after_cr = chunk.endswith(b"\r")
        lines = _LINE_END.split(self.rest + chunk)
        self.rest = lines.pop()
        if self.after_cr:  # "...\r" split into [..., b""]: that line is complete
            self.rest = b""
        return lines


_LINE_END: Final = re.compile(rb"\r\n|\r|\n")


def _decoder(headers: Any) -> Any:
    """A fresh decoder for the response's ``Content-Encoding`` (real providers compress
    their JSON), None for an uncompressed body, False for an encoding httpx2 cannot undo."""
    codings = [
        coding.strip().lower()
        for coding in headers.get_list("content-encoding", split_commas=True)
        if coding.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return None
    try:
        if any(coding not in SUPPORTED_DECODERS for coding in codings):
            return False
        return MultiDecoder(codings)
    except Exception:  # more encodings than httpx2 undoes: the client refuses the body too
        return False


def _json(parts: list[bytes]) -> Any:
    try:
        return orjson.loads(b"".join(parts))
    except orjson.JSONDecodeError:
        return None


def _usage_of(reader: ModuleType, body: dict[str, Any]) -> Usage | None:
    try:
        return reader.usage_of(body)  # type: ignore[no-any-return]
    except Exception:  # a reply of an unexpected shape is not the user's error
        return None
