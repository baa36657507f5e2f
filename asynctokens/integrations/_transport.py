"""Capture at the HTTP transport: every request of an instrumented client that no method
wrapper logs (and, of a Google GenAI client, every request of its Interactions API).

The method wrappers (``_instrument``) log the calls they know from the SDK's own objects,
with no second parse. Every other request an instrumented OpenAI or Anthropic client sends
(the ``with_raw_response`` and ``with_streaming_response`` variants, methods a new SDK
release adds, any endpoint whose reply carries usage) is seen here: the response body passes
through unchanged while its usage is read, and the request is logged when its body is
closed, once, with its own status, latency and request id. A method wrapper marks the
requests it logs itself (``claimed``), so no request is counted twice; of those, only a
failed attempt (a 429, a 5xx, a dropped connection: the SDK may retry it) is read here, and
kept for the wrapper, which logs it before the call's last request. A body the user
closes before its end is logged as abandoned: nothing more is read to learn its usage.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter
from types import ModuleType, SimpleNamespace
from typing import Any, Final

import httpx2
import orjson
from httpx2._decoders import SUPPORTED_DECODERS, MultiDecoder  # the client's own decoders

from asynctokens.integrations._call import CallLog, Claim, Held, abandoned, claimed, failure
from asynctokens.integrations._usage import Usage, error_text, failed, text, view

#: A JSON body larger than this is not read for usage (no reply with usage comes near it).
_MAX_JSON: Final = 16 * 1024 * 1024


class _Reading:
    """One request's response as it passes: its usage read from the bytes, logged once."""

    def __init__(self, response: Any, call: CallLog, reader: ModuleType, decoder: Any,
                 request_id_header: str, seen: Callable[[str | None], bool]) -> None:  # fmt: skip
        self.response = response
        self.call = call
        self.reader = reader
        self.request_id = text(response.headers.get(request_id_header))
        self.seen = seen
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
            self.events = decoder()
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
        """The body is closed: log the request (nothing, for a reply without usage)."""
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
                if model is not None:  # a model's reply without its usage: said, once a site
                    call.end(None, self.response)
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
        self.call.end(failure(exc, self.call.api_type))


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


def _request_model(request: Any) -> str | None:
    """The model the request asked for, from its JSON body (None for any other body)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return text(view(orjson.loads(request.content)).get("model"))
    except Exception:  # a streamed or unreadable body: the reply names the model
        return None


def install(client: Any, start_call: Callable[[str | None], CallLog], reader: ModuleType,
            request_id_header: str, seen: Callable[[str | None], bool]) -> None:  # fmt: skip
    """Observe the transport(s) of an OpenAI or Anthropic client's httpx2 client, with the
    SDK's own SSE decoder; once per HTTP client."""
    sdk = type(client).__module__.split(".")[0]
    try:
        decoder = importlib.import_module(f"{sdk}._streaming").SSEDecoder
        decoder().decode  # noqa: B018
    except (ImportError, AttributeError):
        return  # an SDK without the SSE decoder its streams are read with: methods only
    observe(getattr(client, "_client", None), start_call, reader, decoder, request_id_header,
            seen)  # fmt: skip


def observe(http: Any, start_call: Callable[[str | None], CallLog], reader: ModuleType,
            decoder: Any, request_id_header: str, seen: Callable[[str | None], bool],
            only: str | None = None) -> None:  # fmt: skip
    """Observe the transport(s) of the httpx2 client ``http`` (nothing for any other kind);
    once per HTTP client. With ``only``, requests whose URL path lacks it pass unobserved.

    The client's mounts (proxies from the environment) are observed too: httpx2 sends each
    request through the transport its URL selects."""
    kind: type[_Observed] | type[_AsyncObserved]
    if isinstance(http, httpx2.Client):
        kind = _Observed
    elif isinstance(http, httpx2.AsyncClient):
        kind = _AsyncObserved
    else:
        return
    if isinstance(http._transport, (_Observed, _AsyncObserved)):
        return

    def observed(transport: Any) -> Any:
        return kind(transport, start_call, reader, decoder, request_id_header, seen, only)

    http._transport = observed(http._transport)
    http._mounts = {
        pattern: (None if transport is None else observed(transport))
        for pattern, transport in http._mounts.items()
    }


class _Base:
    def __init__(self, inner: Any, start_call: Callable[[str | None], CallLog],
                 reader: ModuleType, decoder: Any, request_id_header: str,
                 seen: Callable[[str | None], bool], only: str | None) -> None:  # fmt: skip
        self.inner = inner
        self.only = only
        self.start_call = start_call
        self.reader = reader
        self.decoder = decoder  # the SDK's own SSEDecoder class, or one with its decode()
        self.request_id_header = request_id_header
        self.seen = seen

    def _watch(self, response: Any, call: CallLog, stream: Any) -> Any:
        """``response`` with its body read for usage as it passes (``stream`` wraps it), or
        logged at once when the transport made it whole."""
        reading = _Reading(
            response, call, self.reader, self.decoder, self.request_id_header, self.seen
        )
        if not reading.read_already():
            response.stream = stream(response.stream, reading)
        return response

    def _attempt(self, request: Any, claim: Claim, start: float, seen: Any) -> None:
        """A claimed request that failed (``seen``: its response, body read, or the
        exception): its line is kept in ``claim``, for the method wrapper to log if the SDK
        retried it; the last attempt is logged by the wrapper from the error it raises."""
        held: Held = []
        call = self.start_call(_request_model(request))
        call.start, call.held = start, held
        if isinstance(seen, BaseException):
            call.end(failure(seen, call.api_type))
        else:
            reading = _Reading(
                seen, call, self.reader, self.decoder, self.request_id_header, self.seen
            )
            if not reading.read_already():  # a body that could not be read: its status
                error = error_text(seen.status_code, None, None)
                call.end(failed(call.api_type, error, reading.request_id))
        claim.extend((seen, call, log) for log in held)


class _Observed(_Base, httpx2.BaseTransport):
    """A sync transport that reads the usage of the responses no method wrapper claimed."""

    def handle_request(self, request: Any) -> Any:
        claim = claimed.get()
        if claim is not None:  # a method wrapper logs it: only a failed attempt is kept
            start = perf_counter()
            try:
                response = self.inner.handle_request(request)
            except Exception as exc:
                self._attempt(request, claim, start, exc)
                raise
            if response.status_code >= 400:
                with contextlib.suppress(Exception):  # an error's body: a few hundred bytes
                    response.read()
                self._attempt(request, claim, start, response)
            return response
        if self.only is not None and self.only not in request.url.path:
            return self.inner.handle_request(request)  # (inline: a call on every request)
        call = self.start_call(_request_model(request))
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            call.end(failure(exc, call.api_type))
            raise
        return self._watch(response, call, _SyncStream)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _AsyncObserved(_Base, httpx2.AsyncBaseTransport):
    """The async form of :class:`_Observed`."""

    async def handle_async_request(self, request: Any) -> Any:
        claim = claimed.get()
        if claim is not None:  # as in the sync form
            start = perf_counter()
            try:
                response = await self.inner.handle_async_request(request)
            except Exception as exc:
                self._attempt(request, claim, start, exc)
                raise
            if response.status_code >= 400:
                with contextlib.suppress(Exception):
                    await response.aread()
                self._attempt(request, claim, start, response)
            return response
        if self.only is not None and self.only not in request.url.path:
            return await self.inner.handle_async_request(request)
        call = self.start_call(_request_model(request))
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            call.end(failure(exc, call.api_type))
            raise
        return self._watch(response, call, _AsyncStream)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _SyncStream(httpx2.SyncByteStream):
    """The response body, unchanged, read for usage as the user reads it."""

    def __init__(self, inner: Any, reading: _Reading) -> None:
        self.inner = inner
        self.reading = reading

    def __iter__(self) -> Iterator[bytes]:
        feed = self.reading.encoded if self.reading.decoder else self.reading.feed
        try:
            for chunk in self.inner:
                feed(chunk)
                yield chunk
        except Exception as exc:
            self.reading.failed(exc)
            raise
        self.reading.exhausted = True

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.reading.end()


class _AsyncStream(httpx2.AsyncByteStream):
    """The async form of :class:`_SyncStream`."""

    def __init__(self, inner: Any, reading: _Reading) -> None:
        self.inner = inner
        self.reading = reading

    async def __aiter__(self) -> AsyncIterator[bytes]:
        feed = self.reading.encoded if self.reading.decoder else self.reading.feed
        try:
            async for chunk in self.inner:
                feed(chunk)
                yield chunk
        except Exception as exc:
            self.reading.failed(exc)
            raise
        self.reading.exhausted = True

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.reading.end()
