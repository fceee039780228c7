"""Answers for people: one card model, one renderer per medium.

* :mod:`bot.render.card`     - what a card shows and in what order (pure data);
* :mod:`bot.render.blocks`   - Slack Block Kit: cards, messages, the feedback modal, App Home;
* :mod:`bot.render.text`     - plain text: Slack's notification fallback, the weekly preview;
* :mod:`bot.render.terminal` - ``coach ask`` (imported by the CLI only: it needs rich);
* :mod:`bot.render.buttons`  - what a button carries back, in every format ever posted;
* :mod:`bot.render.find`     - the "Find a tip" modal and its type-ahead options.

The Slack names are re-exported here, so ``from bot.render import play_card`` keeps working.
"""

from bot.render.blocks import (
    ACTION_FEEDBACK_DOWN,
    ACTION_FEEDBACK_UP,
    ACTION_FIND_TIP,
    ACTION_FULL_TIP,
    ACTION_NEXT_TIP,
    ACTION_SHARE,
    FEEDBACK_BLOCK_ID,
    FEEDBACK_INPUT_ID,
    FEEDBACK_MODAL_ID,
    HOME_TIP_HEADER,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_HEADER_TEXT,
    MAX_HOME_BLOCKS,
    MAX_SECTION_TEXT,
    SUGGESTION_ACTION_RE,
    HomeContent,
    Message,
    RecentLookup,
    answer_message,
    escape,
    feedback_modal,
    find_tip_actions,
    fit_blocks,
    full_tip_actions,
    full_tip_message,
    help_message,
    home_view,
    notice_message,
    play_card,
    recent_line,
    shared_message,
    split_text,
    tip_blocks,
    tip_fallback,
)
from bot.render.buttons import MAX_BUTTON_VALUE, STALE_BUTTON, ButtonValue, StaleButton
from bot.render.card import PLAY_CREDIT

__all__ = [
    "ACTION_FEEDBACK_DOWN",
    "ACTION_FEEDBACK_UP",
    "ACTION_FIND_TIP",
    "ACTION_FULL_TIP",
    "ACTION_NEXT_TIP",
    "ACTION_SHARE",
    "FEEDBACK_BLOCK_ID",
    "FEEDBACK_INPUT_ID",
    "FEEDBACK_MODAL_ID",
    "HOME_TIP_HEADER",
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_BUTTON_VALUE",
    "MAX_HEADER_TEXT",
    "MAX_HOME_BLOCKS",
    "MAX_SECTION_TEXT",
    "PLAY_CREDIT",
    "STALE_BUTTON",
    "SUGGESTION_ACTION_RE",
    "ButtonValue",
    "HomeContent",
    "Message",
    "RecentLookup",
    "StaleButton",
    "answer_message",
    "escape",
    "feedback_modal",
    "find_tip_actions",
    "fit_blocks",
    "full_tip_actions",
    "full_tip_message",
    "help_message",
    "home_view",
    "notice_message",
    "play_card",
    "recent_line",
    "shared_message",
    "split_text",
    "tip_blocks",
    "tip_fallback",
]
