"""What a card's buttons carry back to us, and how it is written into Slack's ``value``.

Slack returns a button's ``value`` untouched when it is clicked, days later, by whichever
process gets the click, and shows it to anyone who can read the message (a shared card is
public). So a value never carries the rep's words: it names the query-log row
(``query_id``, a server-side key that expires with the log's retention) and the action
reads the situation back from there. It must stay readable after a deploy:
:meth:`ButtonValue.decode` reads every format buttons already posted in Slack carry.

* version 3 (written now): ``{"version": 3, "tip_id": ..., ...}``, fields at their
  defaults left out, never the situation text;
* version 2: the same, but it could carry the situation as ``query``;
* version 1 (no ``version`` key): ``t`` tip id, ``q`` query-log id, ``s`` the rep's
  situation text, ``x`` tip ids already shown, ``c`` chunk ids, ``f`` the card was the
  full tip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

from retrieval.errors import CoachError

T = TypeVar("T")

MAX_BUTTON_VALUE = 2000  # Slack's limit for a button's value
VERSION = 3
#: Formats :meth:`ButtonValue.decode` still reads (buttons already posted in Slack).
READABLE_VERSIONS = frozenset({2, 3})
STALE_BUTTON = (
    "That button is from an older answer I can no longer read. Ask me again for a fresh answer."
)

#: Version 1's one-letter keys, by field.
_V1_KEYS = {
    "tip_id": "t",
    "query_id": "q",
    "query": "s",
    "exclude": "x",
    "chunk_ids": "c",
    "full": "f",
}


class StaleButton(CoachError):
    """A button value we cannot read (cut, tampered with, or from an unknown format).

    A :class:`CoachError`, so the rep is told, in these words, to ask again.
    """

    def __init__(self) -> None:
        super().__init__(STALE_BUTTON)


@dataclass(frozen=True)
class ButtonValue:
    """The payload of one button: which tip, which lookup, and what to repeat it with."""

    tip_id: str | None = None  # the tip to show, or that feedback is about
    query_id: int | None = None  # the query-log row the card answered (feedback links to it)
    #: The rep's situation, only in buttons posted before version 3; new buttons leave it
    #: out (the action reads it back through ``query_id``) and :meth:`encode` never writes it.
    query: str = ""
    exclude: tuple[str, ...] = ()  # tips the rep has already been shown
    chunk_ids: tuple[str, ...] = ()  # the chunks the card showed (what feedback is about)
    full: bool = False  # the card was "Show full tip" (sharing shows the same)
    #: The format the value was read from; :meth:`encode` always writes the current one.
    #: Not part of the meaning: an old button equals the new one it stands for.
    version: int = field(default=VERSION, compare=False)

    def encode(self, *, shrink: Literal["chunk_ids"] | None = None) -> str:
        """Compact JSON within Slack's 2000 characters, dropping the last chunk ids until it
        fits when ``shrink`` says so; anything else too long is a bug (``ValueError``)."""
        value = self._json()
        if len(value) <= MAX_BUTTON_VALUE:
            return value
        if shrink is None:
            raise ValueError("button value too long")
        trimmed = self
        while len(value) > MAX_BUTTON_VALUE:
            if shrink == "chunk_ids" and trimmed.chunk_ids:
                trimmed = replace(trimmed, chunk_ids=trimmed.chunk_ids[:-1])
            else:
                raise ValueError("button value too long")
            value = trimmed._json()
        return value

    def _json(self) -> str:
        data: dict[str, Any] = {"version": VERSION}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name not in ("version", "query") and value != item.default:
                data[item.name] = list(value) if isinstance(value, tuple) else value
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str | None) -> ButtonValue:
        """The value a button carries, in any format we ever wrote; raises :class:`StaleButton`
        for anything else."""
        try:
            data = json.loads(value or "")
        except (TypeError, ValueError):
            raise StaleButton() from None
        if not isinstance(data, dict):
            raise StaleButton()
        if "version" not in data:
            version = 1
            data = {name: data[key] for name, key in _V1_KEYS.items() if key in data}
        elif _optional(data["version"], int) in READABLE_VERSIONS:
            version = int(data["version"])
        else:
            raise StaleButton()
        return cls(
            tip_id=_optional(data.get("tip_id"), str),
            query_id=_optional(data.get("query_id"), int),
            query=_optional(data.get("query"), str) or "",
            exclude=_strings(data.get("exclude")),
            chunk_ids=_strings(data.get("chunk_ids")),
            full=bool(_optional(data.get("full"), bool)),
            version=version,
        )


def _optional(value: Any, kind: type[T]) -> T | None:
    """``value`` if it is a ``kind`` (a bool is not an int here) or null; else the value is
    not ours."""
    if value is None or type(value) is kind:
        return value
    raise StaleButton()


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise StaleButton()
