"""Usage read straight from what the provider SDKs return, and the wrappers that log it.

The readers (``openai``, ``anthropic``, ``gemini``) are pure: they recognise shapes and import
no SDK, so ``usage_from()`` works on SDK objects and plain dicts alike and costs a few
attribute reads. ``_stream``, ``_instrument`` and ``_track`` log through a tracker; they use
its public ``log()`` only.
"""

from __future__ import annotations

from asynctokens.integrations._dispatch import usage_from as usage_from
from asynctokens.integrations._usage import Usage as Usage

__all__ = ["Usage", "usage_from"]
