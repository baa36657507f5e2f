"""Untrusted text as data: how a model name, error message or ts from the logs is shown.

Everything in a log line came from outside (a provider's error text, a model name from a
config, a hand-edited line). Terminals interpret control characters (an ESC sequence can
recolour, move the cursor or retitle the window) and rich interprets ``[...]`` as markup, so
every report shows such text through :func:`literal`, on a console with markup and emoji
codes off; the HTML export escapes it on top (see ``_html``).
"""

from __future__ import annotations

from typing import Final

#: C0 controls, DEL and C1 controls -> a visible escape such as ``\x1b`` or ``\n``.
_VISIBLE: Final = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    # line and paragraph separators, and the bidirectional overrides that reorder what a
    # terminal shows (the "Trojan Source" characters)
    **{c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


def literal(value: object) -> str:
    """``value`` as text that shows exactly what it holds and cannot act on a terminal."""
    text = value if isinstance(value, str) else str(value)
    return text.translate(_VISIBLE)
