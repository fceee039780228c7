"""What a model's numbers are, kept next to the model: ``model_fit.json`` in its directory.

The confidence weights, the tier thresholds and how much the learned tip scorer counts
depend on the encoder: a retrained or swapped model needs its own. ``coach eval FILES
--fit --write`` writes them beside the model (fitted on tune splits only); a model without
the file (the tests' hashing encoder, a model named by path) gets the defaults in
:class:`retrieval.search.Calibration` and :class:`retrieval.search.Weights`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from retrieval.errors import CoachError
from retrieval.search import Calibration, Weights

FIT_FILE = "model_fit.json"
DEFAULT_MIN_CONFIDENCE = 0.13
DEFAULT_SURE_CONFIDENCE = 0.6


@dataclass(frozen=True)
class ModelFit:
    calibration: Calibration = field(default_factory=Calibration)
    weights: Weights = field(default_factory=Weights)
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    sure_confidence: float = DEFAULT_SURE_CONFIDENCE
    fitted_on: tuple[str, ...] = ()


def _known(default: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The fields ``default``'s class knows, each converted to its default's type (a
    mistyped value fails here, at start-up, not mid-answer)."""
    names = {f.name for f in fields(default)}
    return {k: type(getattr(default, k))(v) for k, v in values.items() if k in names}


def load_model_fit(model: str | Path) -> ModelFit:
    """The fit beside ``model`` (a directory), or the defaults when it has none."""
    path = Path(model) / FIT_FILE
    if not path.is_file():
        return ModelFit()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ModelFit(
            calibration=Calibration(**_known(Calibration(), data.get("calibration", {}))),
            weights=Weights(**_known(Weights(), data.get("weights", {}))),
            min_confidence=float(data.get("min_confidence", DEFAULT_MIN_CONFIDENCE)),
            sure_confidence=float(data.get("sure_confidence", DEFAULT_SURE_CONFIDENCE)),
            fitted_on=tuple(data.get("fitted_on", ())),
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CoachError(
            f"{path} cannot be read ({exc}); refit it with `coach eval <tune files> --fit "
            "--write`, or delete it to use the defaults"
        ) from exc


def save_model_fit(model_dir: Path, fit: ModelFit) -> Path:
    path = Path(model_dir) / FIT_FILE
    data = {
        "calibration": {k: round(v, 4) for k, v in asdict(fit.calibration).items()},
        "weights": asdict(fit.weights),
        "min_confidence": fit.min_confidence,
        "sure_confidence": fit.sure_confidence,
        "fitted_on": list(fit.fitted_on),
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
