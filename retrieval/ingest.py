"""Read the corpus directory into :class:`Tip` records.

Three shapes of file are understood:

* listing pages (``*.txt``): a category header (``empathy | Customer Service Solutions,
  Inc. - Page 3``), then per tip ``Title - M/D/YY``, a teaser and ``Read more``;
* full posts, which may sit on the same pages: ``Title – M/D/YY [TOW]``, ``Posted on …``,
  the body, and a ``Signup for FREE Tips!…`` footer that is not content;
* author tips (``*.md``) with a front matter block (title, date, categories, situations,
  url);
* the coach's plays (``plays/<tip id>.md``, see :mod:`retrieval.plays`), attached to
  their tips.

A tip that appears several times becomes one record: an author file beats a full post,
which beats a teaser; categories are the union of every page it appears on. A file that
cannot be read is reported as a :class:`ParseProblem` (file and line) and skipped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import yaml

from retrieval.frontmatter import CorpusReadError, read_front_matter
from retrieval.models import ParseProblem, Play, Tip
from retrieval.plays import PLAYS_DIR, check_play, parse_play

PUBLISHER = "Customer Service Solutions, Inc."
PAGE_SUFFIXES = (".txt",)
TIP_SUFFIXES = (".md", ".markdown")
SITUATION_SUFFIXES = (".yaml", ".yml")

_DATE = r"(?P<date>\d{1,2}/\d{1,2}/\d{2,4})"
_TITLE_LINE = re.compile(rf"^(?P<title>\S.*?)\s+[-–—]\s+{_DATE}(?:\s+TOW)?\s*$")
_POSTED = re.compile(r"^Posted on\b")
_FOOTER = re.compile(r"^Signup for FREE Tips!")
_READ_MORE = re.compile(r"\s*Read more\s*$")
_HEADER = re.compile(r"^(?P<category>[^|]+?)\s*(?:\|\s*(?P<site>.*))?$")


@dataclass
class _Draft:
    """A tip as seen on one page, before merging."""

    title: str
    date: date | None
    categories: list[str]
    rank: int  # 0 teaser, 1 full post, 2 author file
    teaser: str = ""
    paragraphs: list[str] = field(default_factory=list)
    situations: list[str] = field(default_factory=list)
    origin: str = ""
    source: str = ""
    url: str = ""


def title_key(title: str) -> str:
    """Normalise a title so the same tip matches across pages (quotes, dashes, ellipses)."""
    text = unicodedata.normalize("NFKC", title).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"'", "", text)
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def tip_id(title: str) -> str:
    return title_key(title).replace(" ", "-") or "untitled"


def parse_date(text: str) -> date:
    """``M/D/YY`` (or ``M/D/YYYY``) as published, to a date; two-digit years are 20YY."""
    month, day, year = (int(part) for part in text.split("/"))
    if year < 100:
        year += 2000
    return date(year, month, day)


def clean_line(line: str) -> str:
    """Tidy a line of page text: non-breaking spaces, runs of spaces, stray whitespace."""
    line = line.replace("\u00a0", " ").replace("\ufeff", "").replace("\u200b", "")
    return re.sub(r"[ \t]+", " ", line).strip()


def read_text(path: Path) -> str:
    """Read a file as UTF-8, naming the line of the first bad byte if it is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CorpusReadError(
            line, f"not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None


# -- listing pages and full posts ---------------------------------------------------------


def _strip_glued_category(text: str, categories: Iterable[str]) -> str:
    """Drop a page's category label glued onto the last sentence ("…from you.empathy")."""
    for category in categories:
        if category and text.endswith(category) and len(text) > len(category):
            before = text[: -len(category)]
            if before.endswith((".", "!", "?", "”", '"')):
                return before
    return text


def parse_page(text: str, origin: str) -> tuple[list[_Draft], list[ParseProblem]]:
    """Parse one listing page (teasers and/or full posts)."""
    lines = [clean_line(line) for line in text.splitlines()]
    problems: list[ParseProblem] = []
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None:
        raise CorpusReadError(1, "empty file")
    header = _HEADER.match(lines[first])
    if header is None or _TITLE_LINE.match(lines[first]):
        raise CorpusReadError(
            first + 1, "expected a category header like 'empathy | Site - Page 3' on the first line"
        )
    category = header.group("category").strip().lower()
    drafts: list[_Draft] = []

    def next_nonempty(start: int) -> int | None:
        return next((j for j in range(start, len(lines)) if lines[j]), None)

    i = first + 1
    while i < len(lines):
        line = lines[i]
        match = _TITLE_LINE.match(line) if line else None
        if not match:
            if line:
                problems.append(
                    ParseProblem(origin, i + 1, f"unexpected text outside a tip: {line[:60]!r}")
                )
            i += 1
            continue
        title, raw_date = match.group("title").strip(), match.group("date")
        try:
            when: date | None = parse_date(raw_date)
        except ValueError:
            problems.append(ParseProblem(origin, i + 1, f"bad date {raw_date!r} (expected M/D/YY)"))
            when = None
        j = next_nonempty(i + 1)
        if j is not None and _POSTED.match(lines[j]):
            body: list[str] = []
            k = j + 1
            while k < len(lines):
                if _FOOTER.match(lines[k]):
                    k += 1
                    break
                ahead = next_nonempty(k + 1)
                if (
                    _TITLE_LINE.match(lines[k])
                    and ahead is not None
                    and _POSTED.match(lines[ahead])
                ):
                    break
                if lines[k]:
                    body.append(lines[k])
                k += 1
            if body:
                body[-1] = _strip_glued_category(body[-1], [category])
                if not body[-1]:
                    body.pop()
            if not body:
                problems.append(ParseProblem(origin, i + 1, f"full post {title!r} has no body"))
            else:
                drafts.append(
                    _Draft(
                        title, when, [category], rank=1, paragraphs=body, origin=f"{origin}:{i + 1}"
                    )
                )
            i = k
            continue
        # A teaser: the next paragraph, ending in "Read more".
        if j is None or _TITLE_LINE.match(lines[j]):
            problems.append(ParseProblem(origin, i + 1, f"tip {title!r} has no teaser text"))
            i += 1
            continue
        teaser = _READ_MORE.sub("", lines[j]).strip()
        drafts.append(
            _Draft(title, when, [category], rank=0, teaser=teaser, origin=f"{origin}:{i + 1}")
        )
        i = j + 1
    if not drafts:
        raise CorpusReadError(first + 1, "no tips found (expected lines like 'Title - 1/27/26')")
    return drafts, problems


# -- author tips -----------------------------------------------------------------------------


def _as_list(value: object, name: str, line: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return [str(item).strip() for item in value if str(item).strip()]
    raise CorpusReadError(line, f"'{name}' must be a list of strings")


def parse_tip_file(text: str, origin: str) -> _Draft:
    """Parse an author's Markdown tip: ``---`` front matter, then the body."""
    lines = text.splitlines()
    meta, end = read_front_matter(lines, "title, date, categories, situations")
    title = str(meta.get("title") or "").strip()
    if not title:
        raise CorpusReadError(2, "front matter needs a 'title'")
    raw_date = meta.get("date")
    when: date | None
    if raw_date in (None, ""):
        when = None
    elif isinstance(raw_date, date):
        when = raw_date
    else:
        try:
            when = (
                date.fromisoformat(str(raw_date))
                if "-" in str(raw_date)
                else parse_date(str(raw_date))
            )
        except ValueError:
            raise CorpusReadError(2, f"bad date {raw_date!r} (use YYYY-MM-DD)") from None
    categories = [
        c.lower() for c in _as_list(meta.get("categories", meta.get("category")), "categories", 2)
    ]
    situations = _as_list(meta.get("situations"), "situations", 2)
    body = [line.rstrip() for line in lines[end + 1 :]]
    paragraphs = [clean_line(p) for p in body if clean_line(p)]
    if not paragraphs:
        raise CorpusReadError(end + 2, "the tip has no body text after the front matter")
    return _Draft(
        title,
        when,
        categories,
        rank=2,
        paragraphs=paragraphs,
        situations=situations,
        origin=origin,
        source=str(meta.get("source") or meta.get("author") or "").strip(),
        url=_url(meta.get("url"), end),
    )


def _url(value: object, end: int) -> str:
    """An author's link to the original post: http(s) only, so a card never links elsewhere."""
    if value in (None, ""):
        return ""
    url = str(value).strip()
    if not re.match(r"^https?://\S+$", url):
        raise CorpusReadError(end, f"'url' must be an http(s) address, not {url[:60]!r}")
    return url


# -- the corpus ---------------------------------------------------------------------------------


def _source_line(draft: _Draft) -> str:
    when = draft.date.strftime("%b %-d, %Y") if draft.date else "undated"
    if draft.rank == 2:
        return f"{draft.source or 'Team tip'} · {when}"
    kind = "Tip of the Week" if draft.rank == 1 else "Tip of the Week (excerpt)"
    return f"{PUBLISHER} {kind} · {when}"


def merge(drafts: Iterable[_Draft]) -> list[Tip]:
    """One tip per title: best source wins, categories are united; newest first."""
    best: dict[str, _Draft] = {}
    categories: dict[str, list[str]] = {}
    teasers: dict[str, str] = {}
    for draft in drafts:
        key = title_key(draft.title)
        cats = categories.setdefault(key, [])
        cats.extend(c for c in draft.categories if c and c not in cats)
        if draft.teaser and key not in teasers:
            teasers[key] = draft.teaser
        current = best.get(key)
        if current is None or draft.rank > current.rank:
            best[key] = draft
        elif draft.rank == current.rank and current.date is None and draft.date is not None:
            best[key] = replace(current, date=draft.date)
    tips: list[Tip] = []
    seen_ids: set[str] = set()
    for key, draft in best.items():
        ident = tip_id(draft.title)
        if ident in seen_ids:  # same slug, different title: keep both, apart
            ident = f"{ident}-{draft.date.isoformat() if draft.date else len(seen_ids)}"
        seen_ids.add(ident)
        tips.append(
            Tip(
                id=ident,
                title=draft.title,
                date=draft.date,
                categories=tuple(categories[key]),
                full=draft.rank >= 1,
                teaser=draft.teaser or teasers.get(key, ""),
                paragraphs=tuple(draft.paragraphs),
                situations=tuple(draft.situations),
                source=_source_line(draft),
                origin=draft.origin,
                url=draft.url,
            )
        )
    tips.sort(key=lambda tip: (tip.date or date.min, tip.title), reverse=True)
    return tips


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The files that make up the corpus, in a stable order (README files are docs, not tips)."""
    files = [
        path
        for path in corpus_dir.rglob("*")
        if path.is_file()
        and path.suffix.lower() in PAGE_SUFFIXES + TIP_SUFFIXES + SITUATION_SUFFIXES
        and not path.name.lower().startswith("readme")
        and not any(part.startswith(".") for part in path.relative_to(corpus_dir).parts)
    ]
    return sorted(files)


def is_play_file(path: Path, corpus_dir: Path) -> bool:
    relative = path.relative_to(corpus_dir).parts
    return len(relative) > 1 and relative[0] == PLAYS_DIR and path.suffix.lower() in TIP_SUFFIXES


def parse_situations(text: str, origin: str) -> dict[str, tuple[int, list[str]]]:
    """A YAML mapping ``tip-id: [situations…]`` (or ``"Tip title": […]``) for tips whose
    pages authors can't edit."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CorpusReadError(
            mark.line + 1 if mark else 1, f"not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(data, dict):
        raise CorpusReadError(1, "expected a mapping of tip title to a list of situations")
    lines = text.splitlines()
    found: dict[str, tuple[int, list[str]]] = {}
    for title, situations in data.items():
        line = next(
            (i + 1 for i, raw in enumerate(lines) if str(title) in raw and not raw.startswith(" ")),
            1,
        )
        found[str(title)] = (line, _as_list(situations, str(title), line))
    return found


def _attach_situations(
    tips: list[Tip], files: list[tuple[str, dict[str, tuple[int, list[str]]]]]
) -> tuple[list[Tip], list[ParseProblem]]:
    by_key = {title_key(tip.title): i for i, tip in enumerate(tips)}
    by_id = {tip.id: i for i, tip in enumerate(tips)}
    problems: list[ParseProblem] = []
    extra: dict[int, list[str]] = {}
    for origin, mapping in files:
        for title, (line, situations) in mapping.items():
            index = by_id.get(title.strip(), by_key.get(title_key(title)))
            if index is None:
                problems.append(
                    ParseProblem(
                        origin, line, f"no tip with the id or title {title!r}; check the spelling"
                    )
                )
                continue
            extra.setdefault(index, []).extend(situations)
    for index, situations in extra.items():
        merged = list(tips[index].situations)
        merged.extend(s for s in situations if s not in merged)
        tips[index] = replace(tips[index], situations=tuple(merged))
    return tips, problems


def _attach_plays(
    tips: list[Tip], plays: list[tuple[str, Play]]
) -> tuple[list[Tip], list[ParseProblem]]:
    """Give each tip its play; a play for no known tip, or a second play, is reported."""
    by_id = {tip.id: i for i, tip in enumerate(tips)}
    problems: list[ParseProblem] = []
    for origin, play in plays:
        index = by_id.get(play.tip_id)
        if index is None:
            problems.append(
                ParseProblem(origin, 2, f"no tip with id {play.tip_id!r} for this play")
            )
        elif tips[index].play is not None:
            problems.append(
                ParseProblem(
                    origin, 2, f"a second play for {play.tip_id!r} ({tips[index].play.origin})"
                )
            )
        else:
            tips[index] = replace(tips[index], play=play)
    return tips, problems


def load_corpus(corpus_dir: Path) -> tuple[list[Tip], list[ParseProblem]]:
    """Every tip under ``corpus_dir`` plus the problems met on the way (never fatal per file)."""
    drafts: list[_Draft] = []
    situation_files: list[tuple[str, dict[str, tuple[int, list[str]]]]] = []
    plays: list[tuple[str, Play]] = []
    problems: list[ParseProblem] = []
    if not corpus_dir.is_dir():
        return [], [
            ParseProblem(
                str(corpus_dir), 0, "corpus directory does not exist (set COACH_CORPUS_DIR)"
            )
        ]
    for path in corpus_files(corpus_dir):
        origin = str(path.relative_to(corpus_dir))
        try:
            text = read_text(path)
            if is_play_file(path, corpus_dir):
                plays.append((origin, parse_play(text, origin)))
            elif path.suffix.lower() in SITUATION_SUFFIXES:
                situation_files.append((origin, parse_situations(text, origin)))
            elif path.suffix.lower() in TIP_SUFFIXES:
                drafts.append(parse_tip_file(text, origin))
            else:
                page, page_problems = parse_page(text, origin)
                drafts.extend(page)
                problems.extend(page_problems)
        except CorpusReadError as exc:
            problems.append(ParseProblem(origin, exc.line, str(exc)))
        except OSError as exc:
            problems.append(ParseProblem(origin, 0, f"cannot read: {exc.strerror or exc}"))
    tips, situation_problems = _attach_situations(merge(drafts), situation_files)
    tips, play_problems = _attach_plays(tips, plays)
    return tips, problems + situation_problems + play_problems


def check_corpus(corpus_dir: Path) -> tuple[list[Tip], list[ParseProblem]]:
    """The corpus lint (``coach index --check``): everything :func:`load_corpus` reports,
    plus every tip without a play and every rule a play breaks."""
    tips, problems = load_corpus(corpus_dir)
    for path in corpus_files(corpus_dir):
        if is_play_file(path, corpus_dir):
            origin = str(path.relative_to(corpus_dir))
            try:
                text = read_text(path)
            except (CorpusReadError, OSError):
                continue  # already reported by load_corpus
            problems.extend(check_play(text, origin, expected_tip=path.stem))
    for tip in tips:
        if tip.play is None:
            problems.append(
                ParseProblem(
                    tip.origin.split(":")[0] or str(corpus_dir),
                    int(tip.origin.split(":")[1]) if tip.origin.count(":") == 1 else 0,
                    f"tip {tip.id!r} has no play: add {PLAYS_DIR}/{tip.id}.md",
                )
            )
    unique: dict[str, ParseProblem] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return tips, list(unique.values())
