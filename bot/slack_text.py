"""Slack message markup -> the plain words a rep typed (for the coach, never for display)."""

from __future__ import annotations

import html
import re

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>|<#[CG][A-Z0-9]+>")
_SPECIAL = re.compile(
    r"<!(?:here|channel|everyone)(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>|<![^>]*>"
)
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|>]+)(?:\|([^>]*))?>")

_EMOJI = re.compile(r":[a-z0-9_+\-']+:")
_CHATTER = {
    "thanks", "thank you", "thx", "ty", "ok", "okay", "k", "cool", "great", "got it", "nice",
    "perfect", "awesome", "will do", "thanks!", "ok thanks", "thank you!", "ok, thanks",
}  # fmt: skip


def plain_text(text: str | None, *, bot_user_id: str | None = None) -> str:
    """Strip Slack markup: the bot's own mention, other mentions, channels, links, entities."""
    if not text:
        return ""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _USER.sub("someone", text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(1) or "channel"), text)
    text = _SPECIAL.sub(lambda m: m.group(1) or " ", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = html.unescape(text)
    return " ".join(text.split())


def mentions_user(text: str | None, user_id: str | None) -> bool:
    return bool(text and user_id and re.search(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", text))


def mentions_someone_else(text: str | None, bot_user_id: str | None) -> bool:
    """True when a thread reply is addressed to a colleague, not to the bot."""
    return any(uid != bot_user_id for uid in _USER.findall(text or ""))


def is_chatter(text: str) -> bool:
    """ "thanks", "ok" and friends: not a new situation, so no answer card in a thread."""
    cleaned = _EMOJI.sub(" ", text.lower())
    cleaned = " ".join(re.sub(r"[^\w\s,!']", "", cleaned).split())
    return cleaned in _CHATTER or cleaned.rstrip("!.") in _CHATTER or not cleaned
