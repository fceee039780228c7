"""Split a tip into typed chunks: steps, phrases, a takeaway, passages (and title/teaser).

Steps are what a rep should *do*: numbered or bulleted items, "First/Second/…/Finally"
sequences, runs of paragraphs built the same way ("It's about your …" ×3), and every
paragraph under an author's ``## Steps`` heading. A story paragraph ("I was…") is never a
step, and neither is a list whose items mostly judge their own labels ("Take control –
Not sure why this is here"): that is the author reviewing somebody else's steps. Phrases
are quoted sentences a rep could *say*. The takeaway is the closing line. Everything
else is a passage. The tip's play adds its *when to use it*, steps and phrases as their
own kinds. Chunk ids are ``<tip id>#<kind>-<n>``, stable across rebuilds.

Bump :data:`CHUNKER_VERSION` whenever the output changes so old indexes are rebuilt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.models import Chunk, ChunkKind, Tip

CHUNKER_VERSION = "6"

_ORDINALS = r"(?:First(?:ly)?|Second(?:ly)?|Third(?:ly)?|Fourth(?:ly)?|Fifth(?:ly)?|Next|Then|Lastly|Last|Finally)"
_ORDINAL = re.compile(rf"^{_ORDINALS}\s*[,:–-]\s*", re.IGNORECASE)
_NUMBERED = re.compile(r"^(?:\d{1,2}[.)]|\(\d{1,2}\)|Step \d{1,2}[:.])\s+")
_BULLET = re.compile(r"^[•\-*▪◦·]\s+")
_QUOTE_MD = re.compile(r"^>\s*")
_HEADING_MD = re.compile(r"^#{1,6}\s+(?P<text>.+)$")
_LABELLED = re.compile(r"^(?P<label>[A-Z][^.:!?–]{2,60}?)\s*(?:–|—| - |:)\s+(?P<rest>\S.*)$")
_QUOTED = re.compile(r"[“\"](?P<q>[^“”\"]{12,400}?)[”\"]")
_SAY_CUE = re.compile(
    r"(?:could|can|might|should|would|to)\s+(?:say|respond|reply|answer|tell them|add|try)\b[^“\"]{0,40}$"
    r"|(?:say|said|saying|respond|try|phrase|phrasing)\s*:?\s*$",
    re.IGNORECASE,
)
_SPEAKABLE_START = re.compile(
    r"^(?:I|I’m|I'm|I’ll|I'll|Let me|Let’s|Let's|We|We’ll|We'll|Thank you|Thanks)\b"
)
_PHRASE_SECTION = re.compile(
    r"^(?:phrases?|phrasing|what to say|say this|example phrases?)\b", re.IGNORECASE
)
_STEP_SECTION = re.compile(r"^(?:steps?|what to do|how to|do this)\b", re.IGNORECASE)

_SENTENCE_END = (".", "!", "?", "…", "”", '"', ")")
#: A paragraph that opens a story or an anecdote, not an instruction.
_STORY_START = re.compile(
    r"^(?:I|We|He|She|They)(?:’|')?(?:ve|d)?\s+(?:was|were|had|have|did|went|walked|watched|"
    r"thought|remember|recently|once|used|got|saw|heard|called|entered|sat)\b"
    r"|^When\s+[A-Z][a-z]+\s+(?:entered|walked|called|came|arrived|was)\b"
    r"|^(?:Last|Yesterday|Years ago|A few (?:weeks|months|years) ago)\b"
)
#: An item that judges its own label ("This is good", "Good step", "Not sure why this is here").
_VERDICT = re.compile(
    r"^(?:(?:this|these|that|it)\b[^.;:!?]{0,40}?\b(?:good|great|fine|well|work|aggress|"
    r"here|conveys|okay|ok)\b|love (?:this|it)|good step|not sure|change this|again, this|"
    r"[A-Z][\w /]{0,30} (?:is|are) (?:great|good|fine|bad|wrong)\b)",
    re.IGNORECASE,
)


def is_heading(paragraph: str) -> bool:
    """Short unpunctuated lines ("No Supervisor?  No Problem") title a section."""
    if _HEADING_MD.match(paragraph):
        return True
    words = paragraph.split()
    return 0 < len(words) <= 8 and not paragraph.endswith((".", "!", ":", ",", ";", "…", "”", '"'))


def _heading_text(paragraph: str) -> str:
    match = _HEADING_MD.match(paragraph)
    return match.group("text").strip() if match else paragraph


def _clean_step(text: str) -> str:
    text = _NUMBERED.sub("", _BULLET.sub("", text)).strip()
    stripped = _ORDINAL.sub("", text)
    if stripped != text and stripped:
        text = stripped[0].upper() + stripped[1:]
    return text


def _lead(paragraph: str, words: int = 3) -> str:
    return " ".join(paragraph.lower().replace("’", "'").split()[:words])


def is_story(paragraph: str) -> bool:
    """Does the paragraph tell what happened (an anecdote) rather than what to do?"""
    return bool(_STORY_START.match(_clean_step(paragraph)))


def _is_review(items: list[str]) -> bool:
    """A list whose items mostly judge their labels is commentary on someone else's list."""
    verdicts = 0
    for item in items:
        match = _LABELLED.match(_clean_step(item))
        if match and _VERDICT.match(match.group("rest")):
            verdicts += 1
    return verdicts * 2 > len(items)


def _step_indexes(paragraphs: list[str]) -> set[int]:
    """Which paragraphs are steps: list items, ordinal sequences, parallel runs."""
    steps: set[int] = set()
    listed = [i for i, p in enumerate(paragraphs) if _NUMBERED.match(p) or _BULLET.match(p)]
    if len(listed) >= 2 and not _is_review([paragraphs[i] for i in listed]):
        steps.update(listed)
    # Ordinal sequences: "First, …", "Second, …", "Finally, …" close together, no heading between.
    run: list[int] = []
    for i, paragraph in enumerate(paragraphs):
        if _ORDINAL.match(paragraph):
            if run and (i - run[-1] > 2 or any(is_heading(p) for p in paragraphs[run[-1] + 1 : i])):
                if len(run) >= 2:
                    steps.update(run)
                run = []
            run.append(i)
    if len(run) >= 2:
        steps.update(run)
    # Parallel runs: three or more consecutive paragraphs opening with the same words.
    i = 0
    while i < len(paragraphs):
        j = i + 1
        lead = _lead(paragraphs[i])
        while j < len(paragraphs) and len(lead.split()) == 3 and _lead(paragraphs[j]) == lead:
            j += 1
        if j - i >= 3:
            steps.update(range(i, j))
        i = max(j, i + 1)
    return {i for i in steps if not is_story(paragraphs[i])}


def _phrases_in(paragraph: str) -> Iterator[str]:
    """Quoted sentences a rep could say: after a 'could say' cue, or first-person lines."""
    for match in _QUOTED.finditer(paragraph):
        quote = match.group("q").strip()
        before = paragraph[: match.start()].rstrip()
        words = quote.split()
        if len(words) < 5:
            continue
        cued = bool(_SAY_CUE.search(before[-80:]))
        if cued or (len(words) >= 8 and _SPEAKABLE_START.match(quote)):
            yield quote


def takeaway_of(paragraphs: list[str]) -> tuple[int, str] | None:
    """The closing line; a lead-in before a colon ("When they want X: Do Y") is dropped."""
    if not paragraphs:
        return None
    index = len(paragraphs) - 1
    last = paragraphs[index]
    if len(last.split()) > 45 or _NUMBERED.match(last) or _BULLET.match(last):
        return None
    if ": " in last:
        head, tail = last.split(": ", 1)
        if len(tail.split()) >= 3 and len(head.split()) <= 10:
            last = tail
    return index, last.strip()


def chunk_tip(tip: Tip) -> list[Chunk]:
    """All chunks of one tip, in reading order within each kind."""
    counters: dict[str, int] = {}
    chunks: list[Chunk] = []

    def add(kind: ChunkKind, text: str, context: str = "") -> None:
        text = text.strip()
        if not text:
            return
        n = counters.get(kind, 0) + 1
        counters[kind] = n
        chunks.append(Chunk(f"{tip.id}#{kind}-{n}", tip.id, kind, text, number=n, context=context))

    add("title", tip.title)
    for situation in tip.situations:
        add("situation", situation)
    if tip.play is not None:
        add("when", tip.play.when)
        for step in tip.play.steps:
            add("play_step", step.text)
        for phrase in tip.play.phrases:
            add("play_phrase", phrase)
    if not tip.paragraphs:
        add("teaser", tip.teaser)
        return chunks

    paragraphs = list(tip.paragraphs)
    take = takeaway_of(paragraphs)
    step_idx = _step_indexes(paragraphs)
    section = ""
    pending: list[str] = []  # short passages merged with their neighbours
    for i, paragraph in enumerate(paragraphs):
        if take and i == take[0] and i not in step_idx:
            continue
        if is_heading(paragraph) and i not in step_idx:
            section = _heading_text(paragraph)
            continue
        quoted = _QUOTE_MD.match(paragraph) is not None
        body = _QUOTE_MD.sub("", paragraph)
        in_phrase_section = bool(section and _PHRASE_SECTION.match(section))
        in_step_section = bool(section and _STEP_SECTION.match(section))
        if quoted or in_phrase_section:
            add("phrase", _clean_step(body).strip('“”"'))
            continue
        if i in step_idx or (in_step_section and not is_story(body)):
            add("step", _clean_step(body))
            continue
        for phrase in _phrases_in(body):
            add("phrase", phrase, context=body)
        pending.append(body)
        if sum(len(p.split()) for p in pending) >= 25:
            add("passage", " ".join(pending))
            pending = []
    if pending:
        add("passage", " ".join(pending))
    if take:
        add("takeaway", take[1])
    return chunks


def chunk_corpus(tips: list[Tip]) -> list[Chunk]:
    return [chunk for tip in tips for chunk in chunk_tip(tip)]
