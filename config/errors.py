"""The root of Tip Coach's errors, here because ``config`` is the one package every layer
already imports: storage and retrieval can share a base without importing each other."""

from __future__ import annotations


class CoachError(Exception):
    """Base class: every message is written for the person who will read it."""
