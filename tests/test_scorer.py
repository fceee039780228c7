"""The learned tip scorer and the fit that travels with a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.errors import CoachError
from retrieval.model_fit import FIT_FILE, ModelFit, load_model_fit, save_model_fit
from retrieval.scorer import fit_tip_scorer, tip_scores
from retrieval.search import Calibration, Weights


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_the_scorer_learns_which_directions_speak_for_each_tip() -> None:
    """Three tips whose lines lie around three directions: a query near one direction scores
    that tip highest, and scores are centred (they only shift tips against each other)."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 3
    lines = unit(np.vstack([c + rng.normal(0, 0.6, (20, 8)) for c in centres]))
    labels = np.repeat(np.arange(3), 20)
    weights = fit_tip_scorer(lines, labels, 3)
    assert weights.shape == (3, 9)
    for tip in range(3):
        query = unit((centres[tip] + rng.normal(0, 0.6, 8))[None])[0]
        scores = tip_scores(weights, query)
        assert int(np.argmax(scores)) == tip and abs(float(scores.mean())) < 1e-5


def test_nothing_to_learn_gives_zero_weights() -> None:
    assert not fit_tip_scorer(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), 3).any()
    one_tip = fit_tip_scorer(unit(np.ones((5, 4))), np.zeros(5, np.int64), 3)
    assert not one_tip.any()


def test_a_model_without_a_fit_gets_the_defaults(tmp_path: Path) -> None:
    fit = load_model_fit(tmp_path)
    assert fit == ModelFit() and fit.weights.learned == 0.0
    assert load_model_fit("hashing") == ModelFit()  # not a directory at all


def test_the_fit_round_trips_next_to_the_model(tmp_path: Path) -> None:
    fit = ModelFit(
        Calibration(score=3.5, bias=-7.0, off_topic_margin=0.01),
        Weights(learned=0.2),
        min_confidence=0.06,
        sure_confidence=0.77,
        fitted_on=("tests/eval/tune.jsonl",),
    )
    path = save_model_fit(tmp_path, fit)
    assert path.name == FIT_FILE
    assert load_model_fit(tmp_path) == fit


def test_a_broken_fit_file_names_itself_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / FIT_FILE).write_text(json.dumps({"calibration": {"score": "high"}}))
    with pytest.raises(CoachError, match=r"model_fit.json.*--fit --write"):
        load_model_fit(tmp_path)


def test_the_bundled_model_carries_its_fit() -> None:
    from config.settings import BUNDLED_MODEL_DIR

    fit = load_model_fit(BUNDLED_MODEL_DIR)
    assert fit.weights.learned > 0 and fit.min_confidence < fit.sure_confidence
    assert all("test" not in Path(name).name for name in fit.fitted_on)  # tune splits only


def test_labelled_queries_of_a_tune_split_train_towards_their_first_tip() -> None:
    from retrieval.evaluate import EvalCase
    from retrieval.models import Tip
    from retrieval.train import labelled_pairs

    tips = [
        Tip("sup", "When They Want the Supervisor", None, (), False),
        Tip("late", "Late", None, (), False),
    ]
    cases = [
        EvalCase("a", "put your boss on", ["When They Want the Supervisor"], ["Late"], []),
        EvalCase("b", "my parcel never came", ["late"], [], []),
        EvalCase("c", "what is for lunch", [], [], [], style="offtopic"),
        EvalCase("d", "unknown tip", ["No Such Tip"], [], []),
    ]
    assert labelled_pairs(tips, cases) == {
        "sup": ["put your boss on"],
        "late": ["my parcel never came"],
    }


def test_coach_train_refuses_a_test_split(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    split = tmp_path / "test.jsonl"
    split.write_text(
        '{"id": "x", "query": "q", "relevant": [], "also_relevant": [], "expect_text": []}\n'
    )
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "m"), "--pairs", str(split)])
    assert result.exit_code == 2 and "test split" in result.output
