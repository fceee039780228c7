"""Read the coach's plays (``corpus/plays/<tip id>.md``) and check them.

A play is our own writing about one tip, in a fixed Markdown shape (the README shows it):
front matter naming the tip, then five sections — *When to use it*, *Steps*, *Say*,
*Avoid saying*, *Takeaway*. Parsing is lenient (a play with a gap still loads what it
has, so one sloppy file never hides a tip); :func:`check_play` lists every rule a play
breaks, for ``coach index --check`` and CI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.frontmatter import CorpusReadError, read_front_matter
from retrieval.models import ParseProblem, Play, PlayStep

PLAYS_DIR = "plays"

#: Section headings as written in a play file (matched case-insensitively) -> field.
SECTIONS = {
    "when to use it": "when",
    "steps": "steps",
    "say": "phrases",
    "avoid saying": "avoid",
    "takeaway": "takeaway",
}
MIN_STEPS, MAX_STEPS = 3, 5
MIN_PHRASES, MAX_PHRASES = 2, 4
MIN_AVOID, MAX_AVOID = 1, 2
MAX_STEP_WORDS = 25
LEAD_WORDS = (2, 4)

_HEADING = re.compile(r"^##\s+(?P<name>.+?)\s*#*\s*$")
_ITEM = re.compile(r"^(?:\d{1,2}[.)]|[-*•])\s+(?P<text>.+)$")
_LEAD = re.compile(r"^\*\*(?P<lead>[^*]+?)\*\*\s*(?P<rest>.*)$")
_QUOTED_LINE = re.compile(r"^[“\"](?P<line>.+?)[”\"](?:\s*[—–-]+\s*(?P<why>.*))?$")
_SENTENCE = re.compile(r"[.!?…](?:[”\"’)]*)(?=\s|$)")


@dataclass
class _Draft:
    tip_id: str
    sections: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    heading_lines: dict[str, int] = field(default_factory=dict)
    unknown: list[tuple[int, str]] = field(default_factory=list)


def _draft(text: str) -> _Draft:
    lines = text.splitlines()
    meta, end = read_front_matter(lines, "tip: <tip id>")
    tip_id = str(meta.get("tip") or "").strip()
    if not tip_id:
        raise CorpusReadError(2, "front matter needs 'tip: <tip id>' (the tip this play is for)")
    draft = _Draft(tip_id)
    current: str | None = None
    for number, raw in enumerate(lines[end + 1 :], start=end + 2):
        line = raw.strip()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            name = heading.group("name").strip().rstrip(":").lower()
            current = SECTIONS.get(name)
            if current is None:
                draft.unknown.append((number, heading.group("name")))
            else:
                draft.heading_lines[current] = number
                draft.sections.setdefault(current, [])
            continue
        if current is not None:
            draft.sections[current].append((number, line))
    return draft


def _items(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """List items of a section; a line without a marker continues the item above."""
    items: list[tuple[int, str]] = []
    for number, line in rows:
        match = _ITEM.match(line)
        if match:
            items.append((number, match.group("text").strip()))
        elif items:
            items[-1] = (items[-1][0], f"{items[-1][1]} {line}")
        else:
            items.append((number, line))
    return items


def _prose(rows: list[tuple[int, str]]) -> str:
    return " ".join(line for _, line in rows).strip()


def _step(text: str) -> PlayStep:
    match = _LEAD.match(text)
    if not match:
        return PlayStep("", text)
    return PlayStep(match.group("lead").strip(), match.group("rest").strip())


def _quoted(text: str) -> str:
    match = _QUOTED_LINE.match(text)
    return match.group("line").strip() if match else text.strip().strip('“”"')


def _avoid(text: str) -> str:
    """An avoid line as shown: “the line” — why."""
    match = _QUOTED_LINE.match(text)
    if not match:
        return text.strip()
    why = (match.group("why") or "").strip()
    return f"“{match.group('line').strip()}”" + (f" — {why}" if why else "")


def parse_play(text: str, origin: str = "") -> Play:
    """A play file -> :class:`Play`; raises :class:`CorpusReadError` only for unusable files."""
    draft = _draft(text)
    sections = draft.sections
    return Play(
        tip_id=draft.tip_id,
        when=_prose(sections.get("when", [])),
        steps=tuple(_step(t) for _, t in _items(sections.get("steps", []))),
        phrases=tuple(_quoted(t) for _, t in _items(sections.get("phrases", []))),
        avoid=tuple(_avoid(t) for _, t in _items(sections.get("avoid", []))),
        takeaway=_prose(sections.get("takeaway", [])),
        origin=origin,
    )


def _sentences(text: str) -> int:
    return len(_SENTENCE.findall(text)) or (1 if text.strip() else 0)


def check_play(text: str, origin: str, expected_tip: str | None = None) -> list[ParseProblem]:
    """Every rule the play in ``text`` breaks (empty when it is fine)."""
    try:
        draft = _draft(text)
    except CorpusReadError as exc:
        return [ParseProblem(origin, exc.line, str(exc))]
    problems: list[ParseProblem] = []

    def problem(line: int, message: str) -> None:
        problems.append(ParseProblem(origin, line, message))

    if expected_tip is not None and draft.tip_id != expected_tip:
        problem(2, f"'tip: {draft.tip_id}' does not match the file name ({expected_tip}.md)")
    for number, name in draft.unknown:
        problem(number, f"unknown section '## {name}' (sections: {', '.join(SECTIONS)})")
    for heading, key in SECTIONS.items():
        if not draft.sections.get(key):
            problem(
                draft.heading_lines.get(key, 1), f"missing or empty section '## {heading.title()}'"
            )
    when = draft.sections.get("when", [])
    if when and not 2 <= _sentences(_prose(when)) <= 3:
        problem(when[0][0], "'When to use it' should be 2–3 sentences")
    steps = _items(draft.sections.get("steps", []))
    if steps and not MIN_STEPS <= len(steps) <= MAX_STEPS:
        problem(steps[0][0], f"{len(steps)} steps; a play has {MIN_STEPS}–{MAX_STEPS}")
    for number, item in steps:
        step = _step(item)
        if not step.lead:
            problem(number, "a step starts with a bold lead-in, e.g. **Offer a callback.**")
        elif not LEAD_WORDS[0] <= len(step.lead.split()) <= LEAD_WORDS[1]:
            problem(
                number, f"lead-in '{step.lead}' should be {LEAD_WORDS[0]}–{LEAD_WORDS[1]} words"
            )
        if len(step.text.split()) > MAX_STEP_WORDS:
            problem(number, f"step has {len(step.text.split())} words (at most {MAX_STEP_WORDS})")
    phrases = _items(draft.sections.get("phrases", []))
    if phrases and not MIN_PHRASES <= len(phrases) <= MAX_PHRASES:
        problem(
            phrases[0][0], f"{len(phrases)} 'Say' lines; a play has {MIN_PHRASES}–{MAX_PHRASES}"
        )
    for number, item in phrases:
        if not _QUOTED_LINE.match(item):
            problem(number, "a 'Say' line is one quoted sentence a rep can say aloud")
    avoid = _items(draft.sections.get("avoid", []))
    if avoid and not MIN_AVOID <= len(avoid) <= MAX_AVOID:
        problem(
            avoid[0][0], f"{len(avoid)} 'Avoid saying' lines; a play has {MIN_AVOID}–{MAX_AVOID}"
        )
    for number, item in avoid:
        if not _QUOTED_LINE.match(item):
            problem(number, "an 'Avoid saying' line is a quoted line, then ' — ' and why")
    takeaway = draft.sections.get("takeaway", [])
    if takeaway and _sentences(_prose(takeaway)) > 1:
        problem(takeaway[0][0], "the takeaway is one sentence")
    return problems
