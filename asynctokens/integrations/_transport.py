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
closes before its end is logged as abandoned: nothing more is read to learn its usage. How
a body is read is ``_reading``'s; this module decides which requests are read, and whose.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import copy_context
from time import perf_counter
from types import ModuleType
from typing import Any, Final

import httpx2
import orjson

from asynctokens.integrations._call import IN_FLIGHT, CallLog, Claim, Held, claimed, failure
from asynctokens.integrations._reading import Reading, Route, unread
from asynctokens.integrations._usage import error_text, failed, text, view


def _request_model(request: Any) -> str | None:
    """The model the request asked for, from its JSON body or its form (an upload: audio
    transcriptions, image edits, whose replies name no model); None for any other body."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        return _form_model(request.stream)
    if not kind.startswith("application/json"):
        return None
    try:
        return text(view(orjson.loads(request.content)).get("model"))
    except Exception:  # a streamed or unreadable body: the reply names the model
        return None


def _form_model(form: Any) -> str | None:
    """The ``model`` field of an httpx2 multipart body, read from its fields as built (the
    body itself is never read: a file in it may be readable once only)."""
    try:
        for field in getattr(form, "fields", ()):
            if getattr(field, "name", None) == "model" and not hasattr(field, "file"):
                value = field.value
                return text(value.decode() if isinstance(value, bytes) else value)
    except Exception:  # a form of another shape: the reply names the model, or none does
        return None
    return None


#: The headers the SDKs send their key in: OpenAI (a bearer token), Anthropic, Azure, Google.
_KEY_HEADERS: Final = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def _started(route: Route, request: Any) -> CallLog:
    """The call a request is logged as: the model its body asks for, and the key it was sent
    with (a client's copy, ``with_options(api_key=...)``, shares its HTTP client, and its
    requests are billed to its own key; only the last 4 characters are ever kept)."""
    call = route.start_call(_request_model(request))
    if call.api_key is None:  # a client signed in with a token (Vertex, Entra ID): no key
        return call
    headers = request.headers
    for name in _KEY_HEADERS:
        key = headers.get(name)
        if key:
            call.api_key = key.removeprefix("Bearer ").strip() or call.api_key
            break
    return call


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
    route = Route(str(getattr(client, "base_url", "")) or None, start_call, reader, decoder,
                  request_id_header, seen)  # fmt: skip
    observe(getattr(client, "_client", None), route)


def observe(http: Any, route: Route) -> None:
    """Observe the transport(s) of the httpx2 client ``http`` (nothing for any other kind),
    reading the requests ``route`` says are its own; once per HTTP client, another SDK
    client's route added to the observer already there.

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
        for transport in (http._transport, *http._mounts.values()):
            if isinstance(transport, (_Observed, _AsyncObserved)):
                transport.add(route)
        return

    def observed(transport: Any) -> Any:
        return kind(transport, route)

    http._transport = observed(http._transport)
    http._mounts = {
        pattern: (None if transport is None else observed(transport))
        for pattern, transport in http._mounts.items()
    }


class _Base:
    def __init__(self, inner: Any, route: Route) -> None:
        self.inner = inner
        self.routes = [route]

    def add(self, route: Route) -> None:
        """Another SDK client's requests, read its way (a copy of a client is no other)."""
        if all(known.prefix != route.prefix for known in self.routes):
            self.routes.append(route)

    def _route(self, request: Any) -> Route:
        """The route of the SDK client that sent ``request``: the longest base URL its URL
        starts with, else a route for any request, else the first."""
        routes = self.routes
        if len(routes) == 1:
            return routes[0]
        url = str(request.url)
        mine = [r for r in routes if r.prefix is not None and url.startswith(r.prefix)]
        if mine:
            return max(mine, key=lambda r: len(r.prefix or ""))
        return next((r for r in routes if r.prefix is None), routes[0])

    def _begin(self, request: Any) -> tuple[Route, CallLog] | None:
        """The route and call of an unclaimed request to read; None for one to pass."""
        try:
            route = self._route(request)
            if route.only is not None and route.only not in request.url.path:
                return None
            call = _started(route, request)
            call.context = copy_context()  # a body read elsewhere: the labels in force here
            return route, call
        except Exception as exc:  # our failure is said, never the user's request's
            unread(exc)
            return None

    def _watch(self, response: Any, call: CallLog, route: Route, stream: Any) -> Any:
        """``response`` with its body read for usage as it passes (``stream`` wraps it), or
        logged at once when the transport made it whole."""
        try:
            reading = Reading(response, call, route)
            if not reading.read_already():
                response.stream = stream(response.stream, reading)
        except Exception as exc:
            unread(exc)
        return response

    def _attempt(self, request: Any, claim: Claim, start: float, seen: Any) -> None:
        """A claimed request that failed (``seen``: its response, body read, or the
        exception): its line is kept in ``claim``, for the method wrapper to log if the SDK
        retried it; the last attempt is logged by the wrapper from the error it raises."""
        try:
            held: Held = []
            route = self._route(request)
            call = _started(route, request)
            call.start, call.held = start, held
            if isinstance(seen, BaseException):
                call.end(failure(seen, call.api_type))
            else:
                reading = Reading(seen, call, route)
                if not reading.read_already():  # a body that could not be read: its status
                    error = error_text(seen.status_code, None, None)
                    call.end(failed(call.api_type, error, reading.request_id))
            claim.extend((seen, call, log) for log in held)
        except Exception as exc:
            unread(exc)


def _in_flight(exc: BaseException) -> None:
    """Mark a cancellation that met a request in flight (``_call.between_attempts``)."""
    try:
        setattr(exc, IN_FLIGHT, True)
    except Exception:  # an exception that takes no attributes (none of Python's own)
        return


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
            except BaseException as exc:  # Ctrl-C with the request in flight: its last one
                _in_flight(exc)
                raise
            if response.status_code >= 400:
                with contextlib.suppress(Exception):  # an error's body: a few hundred bytes
                    response.read()
                self._attempt(request, claim, start, response)
            return response
        begun = self._begin(request)
        if begun is None:
            return self.inner.handle_request(request)
        route, call = begun
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            call.end(failure(exc, call.api_type))
            raise
        return self._watch(response, call, route, _SyncStream)

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
            except BaseException as exc:  # cancelled with the request in flight
                _in_flight(exc)
                raise
            if response.status_code >= 400:
                with contextlib.suppress(Exception):
                    await response.aread()
                self._attempt(request, claim, start, response)
            return response
        begun = self._begin(request)
        if begun is None:
            return await self.inner.handle_async_request(request)
        route, call = begun
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            call.end(failure(exc, call.api_type))
            raise
        return self._watch(response, call, route, _AsyncStream)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _SyncStream(httpx2.SyncByteStream):
    """The response body, unchanged, read for usage as the user reads it."""

    def __init__(self, inner: Any, reading: Reading) -> None:
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

    def __init__(self, inner: Any, reading: Reading) -> None:
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
