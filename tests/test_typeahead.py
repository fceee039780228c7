"""Type-ahead for "Find a tip": typed words (typos, shorthand, half-typed) find the lines a
rep recognises; on small hand-written chunks, then on the bundled corpus via ``Coach``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.engine import Coach
from retrieval.models import Chunk, ChunkKind
from retrieval.spelling import Speller
from retrieval.typeahead import MAX_PER_TIP, Typeahead, words_of


def chunk(tip_id: str, kind: ChunkKind, text: str, n: int = 1) -> Chunk:
    return Chunk(f"{tip_id}#{kind}-{n}", tip_id, kind, text, number=n)


CHUNKS = [
    chunk("supervisor", "title", "When They Want the Supervisor"),
    chunk("supervisor", "situation", "customer demands the supervisor and none is on shift"),
    chunk("supervisor", "situation", "caller insists on a manager right now", 2),
    chunk("supervisor", "when", "A caller asks for someone more senior than you."),
    chunk("supervisor", "step", "Offer a callback from the supervisor."),  # not offered
    chunk("refund", "title", "Late Refunds"),
    chunk("refund", "situation", "refund is late and the customer is angry"),
    chunk("refund", "phrase", "I understand the refund matters to you."),  # not offered
    chunk("thermostat", "situation", "thermostat shipped with faulty firmware"),
]


@pytest.fixture(scope="module")
def typeahead() -> Typeahead:
    speller = Speller([c.text for c in CHUNKS])
    return Typeahead(CHUNKS, speller)


def labels(typeahead: Typeahead, text: str, **kw: object) -> list[str]:
    return [c.label for c in typeahead.suggest(text, **kw)]  # type: ignore[arg-type]


def test_only_situations_whens_and_titles_are_offered(typeahead: Typeahead) -> None:
    offered = {line.kind for line in typeahead.lines}
    assert offered == {"situation", "when", "title"}
    assert "Offer a callback from the supervisor." not in labels(typeahead, "callback")


@pytest.mark.parametrize(
    "typed",
    [
        "supervisor",
        "supervisr",
        "sueprvisor",
        "superv",
        "supervs",
        "SUPERVISOR",
        "ｓｕｐｅｒｖｉｓｏｒ",
    ],
)
def test_typos_half_typed_words_and_odd_forms_find_the_supervisor_lines(
    typeahead: Typeahead, typed: str
) -> None:
    found = typeahead.suggest(typed)
    assert {c.tip_id for c in found} == {"supervisor"}
    assert {c.label for c in found} == {
        "When They Want the Supervisor",
        "customer demands the supervisor and none is on shift",
    }


def test_shorthand_is_expanded(typeahead: Typeahead) -> None:
    assert labels(typeahead, "mgr ") == ["caller insists on a manager right now"]


def test_lines_matching_every_typed_word_come_first(typeahead: Typeahead) -> None:
    found = typeahead.suggest("angry cust")
    assert found[0].label == "refund is late and the customer is angry"
    assert found[0].score > found[1].score


def test_only_the_last_word_is_read_as_half_typed(typeahead: Typeahead) -> None:
    assert set(labels(typeahead, "re")) == {
        "Late Refunds",
        "refund is late and the customer is angry",
    }
    # "sh" still being typed finds "shift"/"shipped"; finished, a two-letter word finds nothing
    assert labels(typeahead, "sh")
    assert labels(typeahead, "sh ") == []


def test_stop_words_alone_find_nothing_but_may_begin_a_word(typeahead: Typeahead) -> None:
    assert labels(typeahead, "the and ") == []
    assert labels(typeahead, "the") == ["thermostat shipped with faulty firmware"]


@pytest.mark.parametrize("typed", ["", "   ", "!!! ??", "\u200b", "zzzzqq", "🙂🙂"])
def test_nothing_to_match_finds_nothing(typeahead: Typeahead, typed: str) -> None:
    assert typeahead.suggest(typed) == []


def test_at_most_a_few_lines_per_tip_and_limit_is_kept() -> None:
    many = [chunk("same", "situation", f"supervisor situation number {n}", n) for n in range(10)]
    many.append(chunk("other", "situation", "the supervisor is away"))
    typeahead = Typeahead(many)
    found = typeahead.suggest("supervisor")
    assert [c.tip_id for c in found].count("same") == MAX_PER_TIP
    assert "other" in {c.tip_id for c in found}
    assert len(typeahead.suggest("supervisor", limit=2)) == 2
    assert typeahead.suggest("supervisor", limit=0) == []


def test_duplicate_lines_of_a_tip_are_offered_once() -> None:
    twice = [
        chunk("t", "situation", "Customer wants a refund"),
        chunk("t", "situation", "customer  wants a REFUND", 2),
    ]
    assert len(Typeahead(twice).suggest("refund")) == 1


@given(st.text(max_size=300))
def test_any_text_gives_a_bounded_list_of_known_lines(text: str) -> None:
    typeahead = Typeahead(CHUNKS)
    known = {line.label for line in typeahead.lines}
    found = typeahead.suggest(text, limit=5)
    assert len(found) <= 5 and {c.label for c in found} <= known


def test_words_are_folded_to_ascii_lowercase() -> None:
    assert words_of("Customer’s ＲＥＦＵＮＤ, can't-wait!") == [
        "customers",
        "refund",
        "cant",
        "wait",
    ]


# -- on the bundled corpus ------------------------------------------------------------------


def test_coach_suggest_mends_supervisr_to_the_supervisor_situations(hashing_coach: Coach) -> None:
    found = hashing_coach.suggest("supervisr", 20)
    assert found and len(found) <= 20
    assert "when-they-want-the-supervisor" in {c.tip_id for c in found}
    assert all("supervisor" in c.label.lower() for c in found)
    assert {c.kind for c in found} <= {"situation", "when", "title"}


def test_coach_suggest_reads_a_huge_paste_without_trouble(hashing_coach: Coach) -> None:
    huge = "customer wants the supervisor " * 2000
    found = hashing_coach.suggest(huge, 10)
    assert 0 < len(found) <= 10
