"""Export a sentence-transformers model to the ONNX form the bot runs (``coach export``).

Why: importing torch and sentence-transformers costs a process about 400 MB and 4–5 s
before the first answer; onnxruntime with the model's own tokenizer gives the same vectors
(mean pooling, unit length) in about 200 MB and half a second. So the bundled model ships
as ONNX, and torch is needed only to train or export (``pip install 'tip-coach[train]'``).

The graph is exported in full precision, then its large weights are *stored* in half
precision, each behind a ``Cast`` to float32: a valid ONNX model (any runtime runs it;
onnxruntime folds the casts once at load) at half the size, computing exactly what the
fp16-stored PyTorch model computes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from retrieval.embedder import ONNX_CONFIG_FILE as CONFIG_FILE
from retrieval.embedder import ONNX_FILE, TOKENIZER_FILE

#: Weights smaller than this stay float32 (biases, norms: too small to matter).
HALF_MIN_ELEMENTS = 1024


def export_onnx(model_dir: str, out_dir: Path, *, max_seq_length: int = 256) -> dict[str, object]:
    """Write ``model.onnx``, ``tokenizer.json`` and ``coach_onnx.json`` into ``out_dir``."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        model_dir, device="cpu", local_files_only=True, model_kwargs={"dtype": torch.float32}
    )
    names = [type(module).__name__ for module in model]
    config = model[1].get_config_dict() if len(names) > 1 else {}
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens")
    if names[:2] != ["Transformer", "Pooling"] or not mean:
        raise ValueError(f"only mean-pooled transformer models can be exported, not {names}")
    transformer = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["a short one", "and a somewhat longer sentence"], padding=True)
    inputs = tuple(
        torch.tensor(sample[key]) for key in ("input_ids", "attention_mask", "token_type_ids")
    )
    axes = {0: "batch", 1: "tokens"}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.onnx"
        torch.onnx.export(
            LastHiddenState(),
            inputs,
            str(full),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=17,
            dynamo=False,
        )
        graph = onnx.load(str(full))
    kept, casts = [], []
    for initializer in graph.graph.initializer:
        array = numpy_helper.to_array(initializer)
        if initializer.data_type == TensorProto.FLOAT and array.size >= HALF_MIN_ELEMENTS:
            half = numpy_helper.from_array(array.astype(np.float16), f"{initializer.name}__half")
            kept.append(half)
            casts.append(
                helper.make_node("Cast", [half.name], [initializer.name], to=TensorProto.FLOAT)
            )
        else:
            kept.append(initializer)
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept)
    nodes = [*casts, *graph.graph.node]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(out_dir / ONNX_FILE))
    tokenizer = Path(model_dir) / TOKENIZER_FILE
    if tokenizer.exists():
        shutil.copyfile(tokenizer, out_dir / TOKENIZER_FILE)
    else:
        model.tokenizer.backend_tokenizer.save(str(out_dir / TOKENIZER_FILE))
    config = {
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": max_seq_length,
        "dim": int(transformer.config.hidden_size),
        "onnx_sha256": hashlib.sha256((out_dir / ONNX_FILE).read_bytes()).hexdigest(),
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config
