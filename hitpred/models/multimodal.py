"""Multimodal torch adapter: one branch per modality, fused by an MLP head.

:class:`MultimodalNet` reads the pipeline's preprocessed matrix laid out as

``[tabular ... | lyrics missing flag, lyrics (lyrics_dim) | audio missing flag, audio (audio_dim)]``

(the embedding blocks are present only when ``lyrics_dim`` / ``audio_dim`` are non-zero; the
training preprocessor puts them last, see :func:`training.zoo.build_preprocessor`). Each
modality has its own Linear-BatchNorm-ReLU-Dropout branch; a branch's output is multiplied
by the modality's presence (1 - missing flag), so a release without audio feeds exact zeros
into the head plus a presence input, never an imputed embedding passed off as data. The head
(Linear-BatchNorm-ReLU-Dropout, then a linear output) classifies (softmax over class codes:
hit, tier, genre) or regresses (a standardised target: popularity).

Weights go to safetensors and the architecture to the manifest, as in :mod:`torch_mlp`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import ModelError, require
from hitpred.models.torch_mlp import EarlyStopping, check_adapter, load_weights, save_weights

__all__ = ["ADAPTER", "MultimodalNet", "load_model", "save_model"]

ADAPTER = "multimodal"


def _torch() -> Any:
    return require("torch", "torch")


def _branch(nn: Any, n_in: int, n_out: int, dropout: float) -> Any:
    return nn.Sequential(
        nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(dropout)
    )


def _build(net: MultimodalNet) -> Any:
    """The torch module of ``net``'s architecture (fresh weights)."""
    torch = _torch()
    nn = torch.nn
    n_tab = net.n_tabular_
    blocks = [(net.lyrics_dim, net.lyrics_width), (net.audio_dim, net.audio_width)]
    blocks = [(dim, width) for dim, width in blocks if dim]

    class _Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.tabular = _branch(nn, n_tab, net.tabular_width, net.dropout) if n_tab else None
            self.embeddings = nn.ModuleList(
                [_branch(nn, dim, width, net.dropout) for dim, width in blocks]
            )
            fused = (net.tabular_width if n_tab else 0) + sum(w + 1 for _, w in blocks)
            layers: list[Any] = []
            for size in net.head:
                layers.append(_branch(nn, fused, size, net.dropout))
                fused = size
            layers.append(nn.Linear(fused, net.n_outputs_))
            self.head = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            parts = [self.tabular(x[:, :n_tab])] if self.tabular is not None else []
            offset = n_tab
            for branch, (dim, _) in zip(self.embeddings, blocks, strict=True):
                present = 1.0 - x[:, offset : offset + 1]
                parts += [branch(x[:, offset + 1 : offset + 1 + dim]) * present, present]
                offset += dim + 1
            return self.head(torch.cat(parts, dim=1))

    return _Net()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread for a while (restored afterwards).

    The batches here are tens of rows: with two threads, synchronisation dominates, and on a
    busy two-core machine one fit took 15-21 s instead of 0.4-1.7 s on one thread
    (200 rows x 395 inputs, measured while other jobs ran).
    """
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_module(net: MultimodalNet, X: np.ndarray, target: np.ndarray, loss_fn: Any) -> None:
    """Adam with early stopping on a 10 % validation slice; keeps the best weights.

    Not torch_mlp's loop: batch norm cannot train on a one-row batch, so a trailing batch of
    one row is skipped here.
    """
    torch = _torch()
    torch.manual_seed(net.random_state)
    rng = np.random.default_rng(net.random_state)
    order = rng.permutation(len(X))
    n_val = max(2, len(X) // 10) if len(X) >= 40 else 0
    val_idx, fit_idx = order[:n_val], order[n_val:]
    # At least ~20 steps per epoch, so small data sets do not stop undertrained.
    batch_size = max(16, min(net.batch_size, len(fit_idx) // 20))
    x, y = torch.as_tensor(X), torch.as_tensor(target)
    optimiser = torch.optim.Adam(net.module_.parameters(), lr=net.lr, weight_decay=net.weight_decay)
    stopper = EarlyStopping(net.patience, min_delta=1e-5)
    for _ in range(net.epochs):
        net.module_.train()
        for start in range(0, len(fit_idx), batch_size):
            batch = torch.as_tensor(fit_idx[start : start + batch_size])
            if len(batch) < 2:
                continue
            optimiser.zero_grad()
            loss_fn(net.module_(x[batch]), y[batch]).backward()
            optimiser.step()
        rng.shuffle(fit_idx)
        if n_val == 0:
            continue
        net.module_.eval()
        with torch.no_grad():
            vi = torch.as_tensor(val_idx)
            loss = float(loss_fn(net.module_(x[vi]), y[vi]))
        stopper.update(net.module_, loss)
        if stopper.stop:
            break
    stopper.restore(net.module_)


class MultimodalNet:
    """Lyrics, audio and tabular branches fused by an MLP head, with a scikit-learn face.

    ``lyrics_dim`` / ``audio_dim``: widths of the embedding blocks at the end of ``X`` (0: the
    modality is not an input); each block is preceded by its missing flag (1 = absent).
    ``class_weight="balanced"`` weighs classes inversely to their frequency (tier and genre
    are judged on macro figures).
    """

    def __init__(
        self,
        kind: str = "classifier",
        lyrics_dim: int = 0,
        audio_dim: int = 0,
        tabular_width: int = 64,
        lyrics_width: int = 64,
        audio_width: int = 32,
        head: tuple[int, ...] = (64,),
        dropout: float = 0.3,
        epochs: int = 150,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        patience: int = 12,
        class_weight: str | None = "balanced",
        random_state: int = 0,
    ) -> None:
        self.kind = kind
        self.lyrics_dim = lyrics_dim
        self.audio_dim = audio_dim
        self.tabular_width = tabular_width
        self.lyrics_width = lyrics_width
        self.audio_width = audio_width
        self.head = tuple(head)
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.class_weight = class_weight
        self.random_state = random_state
        self.module_: Any = None
        self.n_inputs_ = 0
        self.n_tabular_ = 0
        self.n_outputs_ = 0
        self.y_mean_ = 0.0
        self.y_scale_ = 1.0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """scikit-learn compatible parameters (for ``clone``)."""
        return {
            "kind": self.kind,
            "lyrics_dim": self.lyrics_dim,
            "audio_dim": self.audio_dim,
            "tabular_width": self.tabular_width,
            "lyrics_width": self.lyrics_width,
            "audio_width": self.audio_width,
            "head": self.head,
            "dropout": self.dropout,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "patience": self.patience,
            "class_weight": self.class_weight,
            "random_state": self.random_state,
        }

    def set_params(self, **params: Any) -> MultimodalNet:
        """Set constructor parameters (scikit-learn compatible)."""
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def _shape(self, n_inputs: int) -> None:
        blocks = sum(dim + 1 for dim in (self.lyrics_dim, self.audio_dim) if dim)
        if n_inputs < blocks:
            raise ModelError(
                f"MultimodalNet: {n_inputs} inputs cannot hold the embedding blocks "
                f"(lyrics {self.lyrics_dim}, audio {self.audio_dim}, one flag each)"
            )
        self.n_inputs_, self.n_tabular_ = n_inputs, n_inputs - blocks

    def fit(self, X: np.ndarray, y: np.ndarray) -> MultimodalNet:
        """Train from scratch on ``X`` (laid out as the module docstring says) and ``y``."""
        torch = _torch()
        functional = torch.nn.functional
        X = np.asarray(X, dtype="float32")
        self._shape(X.shape[1])
        if self.kind == "classifier":
            codes = np.asarray(y, dtype="int64")
            self.n_outputs_ = int(codes.max()) + 1
            target: np.ndarray = codes
            weight = None
            if self.class_weight == "balanced":
                counts = np.bincount(codes, minlength=self.n_outputs_).astype("float64")
                balanced = len(codes) / (self.n_outputs_ * np.maximum(counts, 1.0))
                weight = torch.as_tensor(balanced, dtype=torch.float32)

            def loss_fn(out: Any, t: Any) -> Any:
                return functional.cross_entropy(out, t, weight=weight)

        else:
            values = np.asarray(y, dtype="float64")
            self.y_mean_, self.y_scale_ = float(values.mean()), float(values.std() or 1.0)
            self.n_outputs_ = 1
            target = ((values - self.y_mean_) / self.y_scale_).astype("float32")

            def loss_fn(out: Any, t: Any) -> Any:
                return functional.mse_loss(out[:, 0], t)

        torch.manual_seed(self.random_state)  # the initial weights too, not only the batches
        self.module_ = _build(self)
        with _one_thread():
            _fit_module(self, X, target, loss_fn)
        return self

    def _forward(self, X: np.ndarray) -> np.ndarray:
        torch = _torch()
        if self.module_ is None:
            raise ModelError("MultimodalNet is not fitted")
        X = np.asarray(X, dtype="float32")
        if X.shape[1] != self.n_inputs_:
            raise ModelError(f"MultimodalNet expects {self.n_inputs_} inputs, got {X.shape[1]}")
        with torch.no_grad():
            return np.asarray(self.module_(torch.as_tensor(X)).numpy())

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier only)."""
        if self.kind != "classifier":
            raise ModelError("predict_proba needs a classifier")
        logits = self._forward(X)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class codes (classifier) or target values (regressor)."""
        if self.kind == "classifier":
            return np.asarray(self.predict_proba(X).argmax(axis=1))
        return np.asarray(self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_)

    def config(self) -> dict[str, Any]:
        """What :func:`load_model` needs to rebuild the module."""
        return {
            **self.get_params(),
            "head": list(self.head),
            "n_inputs": self.n_inputs_,
            "n_outputs": self.n_outputs_,
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
        }


def save_model(estimator: MultimodalNet, directory: Path, stem: str = "model") -> dict[str, Any]:
    """Write the weights to ``<stem>.safetensors``; the architecture goes into the record."""
    if not isinstance(estimator, MultimodalNet) or estimator.module_ is None:
        raise ModelError("the multimodal adapter saves fitted MultimodalNet estimators only")
    return save_weights(estimator.module_, directory, stem, ADAPTER, estimator.config())


def load_model(directory: Path, info: dict[str, Any]) -> MultimodalNet:
    """Rebuild a :class:`MultimodalNet` and load its safetensors weights."""
    check_adapter(info, ADAPTER)
    params = {k: info[k] for k in MultimodalNet().get_params() if k in info}
    params["head"] = tuple(params.get("head", ()))
    net = MultimodalNet(**params)
    net._shape(int(info["n_inputs"]))
    net.n_outputs_ = int(info["n_outputs"])
    net.y_mean_, net.y_scale_ = float(info["y_mean"]), float(info["y_scale"])
    net.module_ = load_weights(_build(net), directory, info)
    return net
