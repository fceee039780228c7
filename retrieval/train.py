"""Fine-tune all-MiniLM-L6-v2 on the corpus: ``coach train`` makes the bundled model.

Why: the base model knows English, not which of 53 tips a rep's story is about. Every
line we wrote *for* a tip — its situations (rep messages, stories, customer messages),
its play, its own steps and phrases — is paired with a short description of that tip
(title, the play's *when to use it*, takeaway), and the model learns, with in-batch
negatives, to put each line nearest its own tip. Only corpus text is used: never an
evaluation query (the tune split measures the result, the test split reports it).

The trained model is saved as a sentence-transformers directory in half precision, then
exported to ONNX (:mod:`retrieval.export`) — what the bot runs, without torch — with a
``training.json`` that records how it was made. Plain PyTorch on the CPU: one epoch over
the bundled corpus takes a few minutes on two cores, and the same seed on the same machine
gives the same model. Needs ``pip install 'tip-coach[train]'``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retrieval.chunking import chunk_tip
from retrieval.evaluate import EvalCase
from retrieval.ingest import title_key
from retrieval.models import Tip

#: Chunk kinds that say, in some voice, what a tip is for or what to do with it.
TRAINING_KINDS = frozenset(
    {
        "situation",
        "when",
        "play_step",
        "play_phrase",
        "step",
        "phrase",
        "takeaway",
        "teaser",
        "passage",
        "title",
    }
)
WEIGHTS_FILE = "model.safetensors"
BASE_NAME = "all-MiniLM-L6-v2"
INFERENCE_SEQ_LENGTH = 256
RECORD_FILE = "training.json"


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    scale: float = 20.0  # cosine similarities times this are the logits of the contrast
    max_seq_length: int = 128
    seed: int = 0


def tip_description(tip: Tip) -> str:
    """What each training line is pulled towards: the tip in a sentence or three."""
    play = tip.play
    parts = [f"{tip.title}.", play.when if play else "", play.takeaway if play else tip.teaser]
    return " ".join(part for part in parts if part).strip()


def training_pairs(tips: list[Tip]) -> dict[str, list[str]]:
    """Per tip id, the lines that should land nearest that tip."""
    lines: dict[str, list[str]] = {}
    for tip in tips:
        found = [c.text for c in chunk_tip(tip) if c.kind in TRAINING_KINDS]
        lines[tip.id] = list(dict.fromkeys(found))
    return lines


def labelled_pairs(tips: list[Tip], cases: list[EvalCase]) -> dict[str, list[str]]:
    """Per tip id, the queries of a tune split whose first right tip it is (``coach train
    --pairs``): real people's words teach the model what the corpus cannot. Never a test
    split: its figures would then measure memory."""
    by_title = {title_key(tip.title): tip.id for tip in tips}
    pairs: dict[str, list[str]] = {}
    for case in cases:
        tip_id = by_title.get(title_key(case.relevant[0])) if case.relevant else None
        if tip_id is not None:
            pairs.setdefault(tip_id, []).append(case.query)
    return pairs


def fine_tune(
    tips: list[Tip],
    base_model: str,
    out_dir: Path,
    settings: TrainingSettings | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    extra: dict[str, list[str]] | None = None,
) -> dict[str, object]:
    """Train from ``base_model`` and save the sentence-transformers model to ``out_dir``;
    returns the training record. ``extra``: more lines per tip id (:func:`labelled_pairs`)."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    settings = settings or TrainingSettings()
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    model = SentenceTransformer(base_model, device="cpu", local_files_only=True)
    model.max_seq_length = settings.max_seq_length
    by_tip = {tid: lines for tid, lines in training_pairs(tips).items() if lines}
    for tid, lines in (extra or {}).items():
        if tid in by_tip:
            by_tip[tid] = list(dict.fromkeys([*by_tip[tid], *lines]))
    extra_lines = sum(len(lines) for lines in (extra or {}).values())
    descriptions = {tip.id: tip_description(tip) for tip in tips}
    tip_ids = sorted(by_tip)
    if len(tip_ids) < 2:
        raise ValueError("fine-tuning needs at least two tips with text")
    total_lines = sum(len(lines) for lines in by_tip.values())
    batch = min(settings.batch_size, len(tip_ids))  # one line per tip per batch: no false negatives
    steps = max(1, total_lines // batch) * settings.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    pools: dict[str, list[str]] = {tid: [] for tid in tip_ids}
    model.train()
    started = time.perf_counter()
    loss_value = 0.0
    for step in range(steps):
        chosen = random.sample(tip_ids, batch)
        anchors = []
        for tid in chosen:
            if not pools[tid]:
                pools[tid] = random.sample(by_tip[tid], len(by_tip[tid]))
            anchors.append(pools[tid].pop())
        positives = [descriptions[tid] for tid in chosen]
        a = F.normalize(model(model.tokenize(anchors))["sentence_embedding"], dim=-1)
        p = F.normalize(model(model.tokenize(positives))["sentence_embedding"], dim=-1)
        logits = a @ p.T * settings.scale
        labels = torch.arange(len(chosen))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if progress:
            progress(step + 1, steps, loss_value)
    model.eval()
    model.half()
    model.max_seq_length = INFERENCE_SEQ_LENGTH  # trained on short lines; reads long stories
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    weights = out_dir / WEIGHTS_FILE
    return {
        "base": BASE_NAME,
        "tips": len(tip_ids),
        "lines": total_lines,
        "labelled_lines": extra_lines,
        "steps": steps,
        "final_loss": round(loss_value, 4),
        "seconds": round(time.perf_counter() - started, 1),
        "settings": settings.__dict__,
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()
        if weights.exists()
        else None,
    }


def write_record(out_dir: Path, record: dict[str, object]) -> None:
    (out_dir / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
