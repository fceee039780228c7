"""Typo tolerance: shorthand expanded, unknown words mended towards the corpus, known words kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from retrieval.spelling import Speller, distance

CORPUS = [
    "The customer wants the supervisor and none is on shift.",
    "A refund requested after the deadline.",
    "Explain the process patiently, step by step.",
]


def reference_distance(a: str, b: str) -> int:
    """Brute-force optimal string alignment (the oracle for :func:`distance`)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            if i == 0 or j == 0:
                table[i][j] = i + j
                continue
            options = [
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            ]
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                options.append(table[i - 2][j - 2] + 1)
            table[i][j] = min(options)
    return table[len(a)][len(b)]


@given(st.text("abcde", max_size=7), st.text("abcde", max_size=7))
def test_distance_matches_the_brute_force_oracle(a: str, b: str) -> None:
    assert distance(a, b) == reference_distance(a, b)


def test_the_issues_typos_are_mended_towards_the_corpus() -> None:
    speller = Speller(CORPUS, known={"wants", "none", "shift", "after"})
    assert speller.mend("cust wants supervisr, none on shift") == (
        "customer wants supervisor, none on shift"
    )
    assert speller.mend("customr wants a refnd after the deadlin") == (
        "customer wants a refund after the deadline"
    )
    assert speller.mend("explian the proccess") == "explain the process"  # swaps, doubles


def test_shorthand_is_expanded_and_known_words_are_left_alone() -> None:
    speller = Speller(CORPUS, known={"pizza", "wifi", "password"})
    assert speller.mend("mgr said no w/o receipt b/c policy") == (
        "manager said no without receipt because policy"
    )
    assert speller.mend("what's the wifi password, and a good pizza place?") == (
        "what's the wifi password, and a good pizza place?"
    )
    assert speller.mend("Xyzzyplugh and the SUPERVISOR") == "Xyzzyplugh and the SUPERVISOR"


def test_short_or_far_words_are_not_guessed() -> None:
    speller = Speller(CORPUS)
    assert speller.mend("the cat sat") == "the cat sat"  # too short to judge
    assert speller.mend("zzzzzzzzzz") == "zzzzzzzzzz"  # nothing near enough


def test_contractions_typed_without_apostrophes_read_like_their_clean_twin() -> None:
    speller = Speller([*CORPUS, "The agent on shift"])
    assert speller.mend("Im sure they arent, dont worry") == "I'm sure they aren't, don't worry"
    assert speller.mend("Whats next? shes off and theyre gone") == (
        "What's next? she's off and they're gone"
    )
    # one edit from "agent", but meant as "aren't": never mended towards the corpus word
    assert speller.mend("arent") == "aren't"


def test_words_that_are_also_contractions_stay_as_typed() -> None:
    speller = Speller(CORPUS)
    text = "its well were ill lets id"
    assert speller.mend(text) == text


def test_texting_shorthand_is_expanded() -> None:
    speller = Speller(CORPUS)
    assert speller.mend("2nd time thru, w no notes, wat do i do") == (
        "second time through, with no notes, what do i do"
    )
    assert speller.mend("order 22nd and 2ndary") == "order 22nd and 2ndary"  # not ordinals


def test_letters_and_capitals_that_are_not_shorthand_stay_as_typed() -> None:
    speller = Speller(CORPUS)
    assert speller.mend("her W-2 from Building W, a u-turn") == "her W-2 from Building W, a u-turn"
    assert speller.mend("call u back w the form") == "call you back with the form"
    assert speller.mend("reply by IM") == "reply by IM"  # an instant message, not "I'm"
