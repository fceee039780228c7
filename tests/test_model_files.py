"""The bundled model: ONNX, loaded without torch; training and export reproduce its form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from config.settings import BUNDLED_MODEL_DIR, base_model_path, load_settings
from retrieval.embedder import OnnxEncoder, is_onnx_model, load_encoder

REPO = Path(__file__).resolve().parent.parent


def test_the_bundled_model_is_onnx_and_the_default() -> None:
    assert is_onnx_model(str(BUNDLED_MODEL_DIR))
    assert load_settings().model_name_or_path() == str(BUNDLED_MODEL_DIR)
    record = json.loads((BUNDLED_MODEL_DIR / "training.json").read_text())
    assert record["base"] == "all-MiniLM-L6-v2" and record["settings"]["seed"] == 0
    size = (BUNDLED_MODEL_DIR / "model.onnx").stat().st_size
    assert size < 100 * 1024 * 1024  # the ceiling for a fine-tuned model


def test_answering_never_imports_torch() -> None:
    """The bot's model runs on onnxruntime: a process stays small and starts fast."""
    code = (
        "import sys; from retrieval.embedder import load_encoder;"
        f"e = load_encoder({str(BUNDLED_MODEL_DIR)!r}); v = e.encode(['customer wants a refund']);"
        "assert v.shape == (1, 384) and abs(float((v * v).sum()) - 1) < 1e-4;"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules;"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_onnx_encoder_pools_and_truncates_like_the_model_reads() -> None:
    encoder = OnnxEncoder(str(BUNDLED_MODEL_DIR))
    vectors = encoder.encode(["short", "word " * 1000, ""])  # long text is truncated, not fatal
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    batch = encoder.encode(["one text", "another, longer text with more words"])
    single = encoder.encode(["one text"])
    assert np.allclose(batch[0], single[0], atol=1e-5)  # padding does not change a vector
    assert "customer" in encoder.vocabulary() and "##s" not in encoder.vocabulary()


@pytest.mark.model
def test_export_gives_the_same_vectors_as_sentence_transformers(tmp_path: Path) -> None:
    from retrieval.embedder import SentenceTransformerEncoder
    from retrieval.export import export_onnx

    base = base_model_path()
    export_onnx(base, tmp_path / "onnx")
    texts = ["customer wants the supervisor", "the refund is late and she is furious " * 20]
    reference = SentenceTransformerEncoder(base).encode(texts)
    exported = load_encoder(str(tmp_path / "onnx")).encode(texts)
    assert (reference * exported).sum(axis=1).min() > 0.999  # half-precision storage only


@pytest.mark.model
def test_training_a_tiny_corpus_exports_a_working_model(tmp_path: Path) -> None:
    from retrieval.export import export_onnx
    from retrieval.models import Tip
    from retrieval.train import TrainingSettings, fine_tune

    tips = [
        Tip(f"t{i}", f"Tip {i}", None, (), False, teaser=text, situations=(text, text + " now"))
        for i, text in enumerate(
            ["caller wants the manager", "refund is late", "customer is confused by the bill"]
        )
    ]
    record = fine_tune(tips, base_model_path(), tmp_path / "st", TrainingSettings(batch_size=3))
    assert record["tips"] == 3 and record["steps"] >= 1
    export_onnx(str(tmp_path / "st"), tmp_path / "onnx")
    vectors = load_encoder(str(tmp_path / "onnx")).encode(["the manager, please"])
    assert vectors.shape == (1, 384)
