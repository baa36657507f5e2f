"""Google GenAI's Interactions API (``client.interactions``): an ``Interaction``, whole,
fetched again, or streamed as server-sent events.

The Interactions client of the google-genai SDK is a separate generated SDK that sends its
requests through the same httpx2 client as ``client.models``; its calls are read at that
client's transport (``_transport``), for paths under ``/interactions`` only, so each request
is logged once whatever method (create, get, their raw and streaming variants, an agent's
run) sent it.

``usage.total_input_tokens`` is the prompt (cached content included, as
``total_cached_tokens`` is a part of it); ``total_tool_use_tokens`` (built-in tools' results
fed back to the model) is input billed as input, so it is added, as for ``generateContent``.
Whether ``total_output_tokens`` includes ``total_thought_tokens`` is read off
``total_tokens`` (the sum of all the parts): thoughts are added to the output only when the
total says they were left out of it.

An interaction still ``queued`` or ``in_progress`` (``background=True``) bills nothing yet:
its usage comes with the finished interaction, from ``get()``, logged once per id.
"""

from __future__ import annotations

from typing import Any, Final

from asynctokens.integrations._usage import Usage, count, filled, make_usage, text, view

API_TYPE: Final = "gemini"
#: The paths of this API (``/v1beta/interactions``, ``/v1beta/interactions/{id}``, ...).
PATH_PART: Final = "/interactions"
_RUNNING: Final = frozenset({"queued", "in_progress"})


def usage_of(obj: Any) -> Usage | None:
    """The usage of one ``Interaction`` (or an event's ``interaction``), None without one."""
    v = view(obj)
    usage = v.get("usage")
    if usage is None:
        return None
    u = view(usage)
    notes: list[str] = []
    prompt = count(u.get("total_input_tokens"), "total_input_tokens", notes)
    tool_use = count(u.get("total_tool_use_tokens"), "total_tool_use_tokens", notes)
    output = count(u.get("total_output_tokens"), "total_output_tokens", notes)
    thoughts = count(u.get("total_thought_tokens"), "total_thought_tokens", notes)
    total = u.get("total_tokens")
    inside = type(total) is int and total == prompt + tool_use + output and thoughts > 0
    tier = text(v.get("service_tier"))
    return make_usage(
        prompt + tool_use,
        output if inside else output + thoughts,
        count(u.get("total_cached_tokens"), "total_cached_tokens", notes),
        0,
        thoughts,
        API_TYPE,
        text(v.get("model")) or text(v.get("agent")),
        text(v.get("id")),
        notes=notes,
        service_tier=None if tier == "standard" else tier,
    )


def unfinished(obj: Any) -> bool:
    """An interaction still queued or running: billed when it finishes."""
    return view(obj).get("status") in _RUNNING


def finished_id(obj: Any) -> str | None:
    """The interaction's id: ``get()`` can fetch it again, and it must be counted once."""
    return text(view(obj).get("id"))


class StreamUsage:
    """Usage of a streamed interaction: the ``interaction.completed`` event carries it; the
    ``interaction.created`` event the id and model, kept for a stream left before its end."""

    __slots__ = ("_id", "_model", "_usage")

    def __init__(self, stream: Any = None) -> None:
        self._usage: Usage | None = None
        self._model: str | None = None
        self._id: str | None = None

    def feed(self, item: Any) -> bool:
        interaction = view(item).get("interaction")
        if interaction is None:
            return False
        usage = usage_of(interaction)
        if usage is not None:
            self._usage = usage
        i = view(interaction)
        self._model = self._model or text(i.get("model")) or text(i.get("agent"))
        self._id = self._id or text(i.get("id"))
        return False

    def seen(self) -> tuple[str | None, str | None]:
        """The model and interaction id received so far."""
        return self._model, self._id

    def result(self) -> Usage | None:
        return filled(self._usage, self._model, self._id)


class LineDecoder:
    """Server-sent events from lines: the ``decode(line)`` the transport feeds each line to.

    The OpenAI and Anthropic SDKs expose such a decoder and the transport uses theirs; the
    generated Interactions SDK parses whole blocks in a private function, so this one keeps
    the few rules a usage reader needs (``data:`` lines joined, a blank line ends an event).
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[str] = []

    def decode(self, line: str) -> Any:
        if not line:
            if not self._data:
                return None
            event = _Event("\n".join(self._data))
            self._data = []
            return event
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None


class _Event:
    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data
