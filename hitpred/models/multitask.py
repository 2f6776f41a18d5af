"""Multi-task torch adapter: one shared trunk, a genre head and a popularity head.

The joint loss is ``cross-entropy(genre) + weight * MSE(standardised popularity)``. Weights are
stored as safetensors, the architecture in the manifest record, as for :mod:`torch_mlp`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import ModelError, require
from hitpred.models.torch_mlp import (
    build_mlp,
    check_adapter,
    load_weights,
    save_weights,
    train_network,
)

__all__ = ["ADAPTER", "MultitaskNet", "load_model", "save_model"]

ADAPTER = "torch-multitask"


def _build(n_inputs: int, hidden: tuple[int, ...], n_classes: int, dropout: float) -> Any:
    torch: Any = require("torch", "torch")
    nn = torch.nn

    class _Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            trunk = build_mlp(n_inputs, hidden[:-1], hidden[-1], dropout)
            self.trunk = nn.Sequential(*trunk, nn.ReLU())
            self.genre = nn.Linear(hidden[-1], n_classes)
            self.popularity = nn.Linear(hidden[-1], 1)

        def forward(self, x: Any) -> Any:
            shared = self.trunk(x)
            return torch.cat([self.genre(shared), self.popularity(shared)], dim=1)

    return _Net()


class MultitaskNet:
    """Predicts genre (class codes) and popularity from one shared representation."""

    def __init__(
        self,
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.2,
        popularity_weight: float = 1.0,
        epochs: int = 60,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        patience: int = 6,
        random_state: int = 0,
    ) -> None:
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.popularity_weight = popularity_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.random_state = random_state
        self.module_: Any = None
        self.n_inputs_ = 0
        self.n_classes_ = 0
        self.y_mean_ = 0.0
        self.y_scale_ = 1.0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "dropout": self.dropout,
            "popularity_weight": self.popularity_weight,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "patience": self.patience,
            "random_state": self.random_state,
        }

    def fit(self, X: np.ndarray, genre: np.ndarray, popularity: np.ndarray) -> MultitaskNet:
        """Train on the joint loss."""
        torch: Any = require("torch", "torch")
        functional = torch.nn.functional
        X = np.asarray(X, dtype="float32")
        codes = np.asarray(genre, dtype="int64")
        values = np.asarray(popularity, dtype="float64")
        self.n_inputs_, self.n_classes_ = X.shape[1], int(codes.max()) + 1
        self.y_mean_, self.y_scale_ = float(values.mean()), float(values.std() or 1.0)
        scaled = ((values - self.y_mean_) / self.y_scale_).astype("float32")
        weight = self.popularity_weight

        def loss_fn(out: Any, g: Any, p: Any) -> Any:
            return functional.cross_entropy(out[:, :-1], g) + weight * functional.mse_loss(
                out[:, -1], p
            )

        self.module_ = _build(self.n_inputs_, self.hidden, self.n_classes_, self.dropout)
        train_network(
            self.module_,
            loss_fn,
            X,
            [codes, scaled],
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            seed=self.random_state,
        )
        return self

    def predict_both(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(genre probabilities n x k, popularity n)."""
        torch: Any = require("torch", "torch")
        if self.module_ is None:
            raise ModelError("MultitaskNet is not fitted")
        with torch.no_grad():
            out = self.module_(torch.as_tensor(np.asarray(X, dtype="float32"))).numpy()
        logits = out[:, :-1] - out[:, :-1].max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba, out[:, -1] * self.y_scale_ + self.y_mean_

    def config(self) -> dict[str, Any]:
        return {
            **self.get_params(),
            "hidden": list(self.hidden),
            "n_inputs": self.n_inputs_,
            "n_classes": self.n_classes_,
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
        }


def save_model(estimator: MultitaskNet, directory: Path, stem: str = "model") -> dict[str, Any]:
    """Write the weights to ``<stem>.safetensors``; the architecture goes into the record."""
    if not isinstance(estimator, MultitaskNet) or estimator.module_ is None:
        raise ModelError("the torch-multitask adapter saves fitted MultitaskNet estimators only")
    return save_weights(estimator.module_, directory, stem, ADAPTER, estimator.config())


def load_model(directory: Path, info: dict[str, Any]) -> MultitaskNet:
    """Rebuild a :class:`MultitaskNet` and load its safetensors weights."""
    check_adapter(info, ADAPTER)
    params = {k: info[k] for k in MultitaskNet().get_params() if k in info}
    params["hidden"] = tuple(params.get("hidden", ()))
    net = MultitaskNet(**params)
    net.n_inputs_, net.n_classes_ = int(info["n_inputs"]), int(info["n_classes"])
    net.y_mean_, net.y_scale_ = float(info["y_mean"]), float(info["y_scale"])
    module = _build(net.n_inputs_, net.hidden, net.n_classes_, 0.0)
    net.module_ = load_weights(module, directory, info)
    return net
