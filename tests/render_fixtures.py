"""Helpers for tests that read rendered Block Kit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def iter_texts(blocks: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Every piece of text in a block list: section and header text, context and button labels."""
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            yield text.get("text", "")
        for element in block.get("elements", []) or []:
            if isinstance(element, dict):
                if isinstance(element.get("text"), dict):
                    yield element["text"].get("text", "")
                elif isinstance(element.get("text"), str):
                    yield element["text"]
