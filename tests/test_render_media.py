"""One card model, three media: Slack, the terminal (``coach ask``) and plain text (the weekly
preview) show every tip of the bundled corpus with the same steps, in the same order, with
the same numbers and the same highlighted one, and the same phrases under the same labels."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field

import pytest
from render_fixtures import iter_texts
from rich.console import Console

from bot.render import tip_blocks
from bot.render.card import card
from bot.render.terminal import render_answer
from bot.render.text import card_text
from config.settings import DEFAULT_CORPUS_DIR
from retrieval.engine import Coach
from retrieval.ingest import load_corpus
from retrieval.models import Answer, TipAnswer

TIPS, _ = load_corpus(DEFAULT_CORPUS_DIR)


@dataclass
class Shown:
    """The steps and phrases one rendering shows, read back from its output."""

    step_label: str | None = None
    steps: list[tuple[int, str, bool]] = field(default_factory=list)  # number, text, marked
    phrases: list[tuple[str, list[str]]] = field(default_factory=list)  # label, phrases


@dataclass(frozen=True)
class Medium:
    """How one medium writes a steps heading, a step, a phrases heading and a phrase."""

    steps_heading: re.Pattern[str]
    step: re.Pattern[str]
    phrases_heading: re.Pattern[str]
    phrase: re.Pattern[str]
    between_phrases: str | None = None

    def read(self, output: str) -> Shown:
        shown, mode = Shown(), None
        for line in output.replace("*", "").splitlines():
            if m := self.steps_heading.match(line):
                mode, shown.step_label = "steps", m["label"]
            elif m := self.phrases_heading.match(line):
                mode = "phrases"
                shown.phrases.append((m["label"], []))
            elif mode == "steps" and (m := self.step.match(line)):
                shown.steps.append((int(m["n"]), m["text"], bool(m["mark"])))
            elif mode == "phrases" and (m := self.phrase.match(line)):
                shown.phrases[-1][1].append(m["text"])
            elif not (mode == "phrases" and line == self.between_phrases):
                mode = None
        return shown


SLACK = Medium(
    steps_heading=re.compile(r"^Steps · _(?P<label>.+)_$"),
    step=re.compile(r"^(?P<mark>:point_right: )?(?P<n>\d+)\. (?P<text>.*)$"),
    phrases_heading=re.compile(r"^Say something like · _(?P<label>.+)_$"),
    phrase=re.compile(r"^> “(?P<text>.*)”$"),
    between_phrases=">",
)
TERMINAL = Medium(
    steps_heading=re.compile(r"^Steps · (?P<label>.+)$"),
    step=re.compile(r"^ *(?P<mark>→)?(?P<n>\d+)\. (?P<text>.*)$"),
    phrases_heading=re.compile(r"^Say it like this · (?P<label>.+)$"),
    phrase=re.compile(r"^ *» “(?P<text>.*)”$"),
)
TEXT = Medium(
    steps_heading=re.compile(r"^Steps · (?P<label>.+)$"),
    step=re.compile(r"^(?:(?P<mark>→)| ) (?P<n>\d+)\. (?P<text>.*)$"),
    phrases_heading=re.compile(r"^Say something like · (?P<label>.+)$"),
    phrase=re.compile(r"^> “(?P<text>.*)”$"),
)


def slack(tip: TipAnswer) -> str:
    return html.unescape("\n".join(iter_texts(tip_blocks(tip))))


def terminal(tip: TipAnswer) -> str:
    out = io.StringIO()
    console = Console(file=out, width=10_000, color_system=None, highlight=False)
    render_answer(Answer(query="q", answered=True, confidence=0.9, tips=(tip,)), console)
    return out.getvalue()


def plain(tip: TipAnswer) -> str:
    return card_text(card(tip))


def flat(text: str) -> str:
    return " ".join(text.split()).replace("*", "")


def cards(coach: Coach, tip_id: str) -> list[TipAnswer]:
    """The whole tip, and the card a rep asking for it by its title gets (steps picked and
    the best one highlighted)."""
    title = next(tip.title for tip in TIPS if tip.id == tip_id)
    asked = [t for t in coach.answer(title, k=3).tips if t.id == tip_id]
    return [coach.tip_card(tip_id), *asked]


@pytest.mark.parametrize("tip_id", [tip.id for tip in TIPS])
def test_every_medium_shows_the_same_steps_and_phrases(hashing_coach: Coach, tip_id: str) -> None:
    for tip in cards(hashing_coach, tip_id):
        shown = [SLACK.read(slack(tip)), TERMINAL.read(terminal(tip)), TEXT.read(plain(tip))]
        steps = [
            (number, flat(text), k == tip.highlight)
            for k, (number, text) in enumerate(tip.numbered_steps())
        ]
        phrases = [flat(p).strip('“”" ') for p in tip.phrases]
        for medium in shown:
            assert medium.steps == steps
            assert [p for _, group in medium.phrases for p in group] == phrases
            assert medium == shown[0]  # the same labels, too


def test_the_corpus_exercises_highlights_play_steps_and_both_phrase_labels(
    hashing_coach: Coach,
) -> None:
    """The check above would pass vacuously on a corpus without these."""
    every = [t for tip in TIPS for t in cards(hashing_coach, tip.id)]
    assert any(t.highlight is not None for t in every)
    assert {t.step_origin for t in every} == {"tip", "play"}
    assert any(set(t.phrase_origins) == {"tip", "play"} for t in every)
