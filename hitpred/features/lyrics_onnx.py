"""ONNX Runtime for the lyrics encoder: a one-time export into a cache folder, int8, sessions.

The Hugging Face model is exported by ``torch.onnx.export`` (the TorchScript exporter) into
``<cache_dir>/<name>@<content hash>-opset<N>.onnx``, written atomically (a temporary file
renamed into place) under a lock file, so concurrent workers never read half a file nor export
twice, and a second load reuses it. ``onnx-int8`` quantises that export once more (see
:func:`quantise_int8`). Both run in a process of their own; the process that runs the model
loads only the tokenizer, the config and the ONNX file, never the torch weights.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import ModelError, require
from hitpred.features.hf_folder import Tokenize, load_hf_model, load_tokenizer

__all__ = ["INT8_FP32_DOWN_PROJECTIONS", "OPSET", "export_onnx", "onnx_path", "quantise_int8"]

log = logging.getLogger(__name__)

OPSET = 17
#: int8 keeps the feed-forward down-projections of the first N layers in fp32: their inputs
#: (GELU outputs) have outliers that per-batch int8 activations clip. Measured on 512 real
#: lyrics with MiniLM-L6: all quantised, min cosine to fp32 0.985; first 3 kept, 0.991.
INT8_FP32_DOWN_PROJECTIONS = 3
#: How long the exporting process may take (MiniLM-L6: ~15 s on 2 cores, trace and int8).
EXPORT_TIMEOUT_S = 900.0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _OnnxRuntime:
    """An ONNX Runtime session returning the last hidden states."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._inputs = {i.name for i in session.get_inputs()}

    def hidden_states(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        feed = {k: v for k, v in batch.items() if k in self._inputs}
        return np.asarray(self._session.run(None, feed)[0])


def onnx_path(cache_dir: Path, model_key: str, *, quantised: bool) -> Path:
    """Where the export of ``model_key`` (``name@content-hash``) lives in ``cache_dir``."""
    suffix = f"-int8dyn-fp32down{INT8_FP32_DOWN_PROJECTIONS}" if quantised else ""
    return cache_dir / f"{model_key}-opset{OPSET}{suffix}.onnx"


@contextlib.contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target``, renamed onto it when the block succeeds."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(model: Any, tokenize: Tokenize, target: Path) -> None:
    """Export a Hugging Face encoder (on CPU) to ``target``: token ids in, hidden states out."""
    torch: Any = require("torch", "lyrics")
    require("onnx", "lyrics")
    accepted = inspect.signature(model.forward).parameters
    sample = tokenize(["a lyric to trace", "and a longer one to trace it with"], 32)
    names = [n for n in sample if n in accepted]

    class _Encoder(torch.nn.Module):
        # Positional inputs for the tracer, passed on by name: transformers' forward()
        # signatures change between versions.
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    args = tuple(torch.from_numpy(sample[n]) for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    log.info("exporting the lyrics encoder to %s (once per model and opset)", target)
    with _atomic(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python branches on shapes in transformers' mask code; the
        # sample is padded, so the traced path is the general one (checked against torch).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            _Encoder().eval(),
            args,
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantise_int8(source: Path, target: Path) -> None:
    """Dynamic int8 (weights per output channel) of ``source``, into ``target``.

    The down-projections of the first :data:`INT8_FP32_DOWN_PROJECTIONS` layers stay fp32:
    found as the first MatMuls whose constant weight narrows its input (in > out).
    """
    onnx: Any = require("onnx", "lyrics")
    quant: Any = require("onnxruntime.quantization", "lyrics", package="onnxruntime")
    graph = onnx.load(str(source), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    down = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and shape[0] > shape[1]
    ]
    log.info("quantising %s to int8 into %s", source.name, target)
    with _atomic(target) as tmp:
        quant.quantize_dynamic(
            source,
            tmp,
            weight_type=quant.QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=down[:INT8_FP32_DOWN_PROJECTIONS],
        )


def _session(path: Path) -> Any:
    ort: Any = require("onnxruntime", "lyrics")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = _cores()
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own untyped errors for a bad file
        raise ModelError(
            f"ONNX Runtime cannot load {path} (delete it to re-export): {exc}"
        ) from exc


def _export_files(model_dir: Path, cache_dir: Path, model_key: str, *, quantised: bool) -> None:
    """Export (and quantise) the model in a process of its own (``python -m`` this module).

    Tracing the model and quantising it peak at about 570 MB above the loaded runtime (measured
    with MiniLM-L6), memory the allocator would not give back: in a worker it would stay for
    the worker's life. A child process returns it when it exits; it runs once per model. A
    plain subprocess rather than multiprocessing: callers need no ``__main__`` guard.
    """
    log.info("exporting the lyrics encoder for %s in a separate process (once)", model_key)
    command = [sys.executable, "-m", __name__, str(model_dir), str(cache_dir), model_key]
    try:
        done = subprocess.run(
            [*command, *(["--int8"] if quantised else [])],
            capture_output=True,
            text=True,
            check=False,
            timeout=EXPORT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(
            f"exporting the lyrics encoder in {model_dir} took over {EXPORT_TIMEOUT_S:.0f} s"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ModelError(
            f"exporting the lyrics encoder in {model_dir} to {cache_dir} failed "
            f"(exit {done.returncode}): {tail}"
        )


def _export(model_dir: Path, cache_dir: Path, model_key: str, *, quantised: bool) -> None:
    """In the exporting process: the fp32 export, then its int8 version, whichever is missing."""
    fp32 = onnx_path(cache_dir, model_key, quantised=False)
    if not fp32.is_file():
        export_onnx(load_hf_model(model_dir), load_tokenizer(model_dir), fp32)
    int8 = onnx_path(cache_dir, model_key, quantised=True)
    if quantised and not int8.is_file():
        quantise_int8(fp32, int8)


def _model_file(model_dir: Path, cache_dir: Path, model_key: str, *, quantised: bool) -> Path:
    path = onnx_path(cache_dir, model_key, quantised=quantised)
    if path.is_file():
        return path
    # One export per model at a time, across processes: workers started together on an empty
    # cache would otherwise all export, and ONNX Runtime's quantiser writes a scratch file
    # next to the fp32 export that a second quantiser deletes from under the first.
    filelock: Any = require("filelock", "lyrics")
    lock = filelock.FileLock(cache_dir / f".{model_key}.export.lock")
    try:
        with lock.acquire(timeout=EXPORT_TIMEOUT_S):
            if not path.is_file():  # not made by another process meanwhile
                _export_files(model_dir, cache_dir, model_key, quantised=quantised)
    except filelock.Timeout as exc:
        raise ModelError(
            f"waited {EXPORT_TIMEOUT_S:.0f} s for another process exporting to {cache_dir}"
        ) from exc
    return path


def onnx_runtime(
    model_dir: Path, *, model_key: str, quantised: bool, cache_dir: Path | None
) -> _OnnxRuntime:
    """An ONNX Runtime session of the model in ``model_dir``, exported (and quantised) once
    into ``cache_dir``.

    Without ``cache_dir`` the export goes to a temporary folder, deleted once the session
    holds the model.
    """
    if cache_dir is None:
        log.info("no cache folder for the ONNX export: exporting on every load")
        with tempfile.TemporaryDirectory(prefix="hitpred-onnx-") as tmp:
            return _OnnxRuntime(
                _session(_model_file(model_dir, Path(tmp), model_key, quantised=quantised))
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    return _OnnxRuntime(_session(_model_file(model_dir, cache_dir, model_key, quantised=quantised)))


if __name__ == "__main__":
    # The exporting process of _export_files: model_dir cache_dir model_key [--int8]
    logging.basicConfig(level=logging.INFO)
    model_folder, cache_folder, key = sys.argv[1:4]
    _export(Path(model_folder), Path(cache_folder), key, quantised="--int8" in sys.argv[4:])
