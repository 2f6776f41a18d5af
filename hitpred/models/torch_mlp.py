"""torch adapter: a multi-layer perceptron with a scikit-learn face, saved as safetensors.

The network's weights go to ``<stem>.safetensors`` (tensors only, nothing executable) and its
shape to the manifest, so loading rebuilds the module from code and fills in the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import ModelError, require

__all__ = [
    "ADAPTER",
    "EarlyStopping",
    "TorchMLP",
    "build_mlp",
    "load_model",
    "save_model",
    "train_network",
]

ADAPTER = "torch"


def _torch() -> Any:
    return require("torch", "torch")


def build_mlp(n_inputs: int, hidden: tuple[int, ...], n_outputs: int, dropout: float) -> Any:
    """A plain ReLU MLP: ``n_inputs -> hidden... -> n_outputs``."""
    nn = _torch().nn
    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class EarlyStopping:
    """Early stopping on a validation loss: keeps the best weights and says when to stop."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.since_best = 0

    def update(self, module: Any, val_loss: float) -> bool:
        """Record an epoch's validation loss; returns whether it is the best so far."""
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.since_best = val_loss, 0
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return True
        self.since_best += 1
        return False

    @property
    def stop(self) -> bool:
        """Whether the loss has not improved for ``patience`` epochs."""
        return self.since_best >= self.patience

    def restore(self, module: Any) -> None:
        """Put the best weights back (if any epoch was validated) and switch to eval mode."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
        module.eval()


def train_network(
    module: Any,
    loss_fn: Any,
    inputs: np.ndarray,
    targets: list[np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    seed: int,
) -> int:
    """Adam with early stopping on a 10 % validation slice; returns the epochs run.

    ``loss_fn(outputs, *target_tensors)`` gets the module's output for a batch. The best
    weights (lowest validation loss) are restored at the end.
    """
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(inputs))
    n_val = max(1, len(inputs) // 10) if len(inputs) >= 20 else 0
    val_idx, fit_idx = order[:n_val], order[n_val:]
    # At least ~20 steps per epoch: small data sets would otherwise stop undertrained.
    batch_size = max(16, min(batch_size, len(fit_idx) // 20))
    x = torch.as_tensor(inputs, dtype=torch.float32)
    ys = [torch.as_tensor(t) for t in targets]
    optimiser = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    stopper, epoch = EarlyStopping(patience, min_delta=1e-5), 0
    for epoch in range(1, epochs + 1):  # noqa: B007 - the count is returned
        module.train()
        for start in range(0, len(fit_idx), batch_size):
            batch = torch.as_tensor(fit_idx[start : start + batch_size])
            optimiser.zero_grad()
            loss = loss_fn(module(x[batch]), *[y[batch] for y in ys])
            loss.backward()
            optimiser.step()
        rng.shuffle(fit_idx)
        if n_val == 0:
            continue
        module.eval()
        with torch.no_grad():
            vi = torch.as_tensor(val_idx)
            val_loss = float(loss_fn(module(x[vi]), *[y[vi] for y in ys]))
        stopper.update(module, val_loss)
        if stopper.stop:
            break
    stopper.restore(module)
    return epoch


class TorchMLP:
    """A torch MLP classifier (softmax) or regressor (MSE on a standardised target).

    Inputs must already be numeric and scaled (the pipeline's preprocessing does that).
    """

    def __init__(
        self,
        kind: str = "classifier",
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.2,
        epochs: int = 40,
        batch_size: int = 512,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        patience: int = 4,
        random_state: int = 0,
    ) -> None:
        self.kind = kind
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.random_state = random_state
        self.module_: Any = None
        self.n_inputs_ = 0
        self.n_outputs_ = 0
        self.y_mean_ = 0.0
        self.y_scale_ = 1.0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """scikit-learn compatible parameters (for ``clone``)."""
        return {
            "kind": self.kind,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "patience": self.patience,
            "random_state": self.random_state,
        }

    def set_params(self, **params: Any) -> TorchMLP:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchMLP:
        """Train from scratch on ``X`` (n x d floats) and ``y`` (class codes or values)."""
        torch = _torch()
        X = np.asarray(X, dtype="float32")
        self.n_inputs_ = X.shape[1]
        if self.kind == "classifier":
            codes = np.asarray(y, dtype="int64")
            self.n_outputs_ = int(codes.max()) + 1
            targets = [codes]
            loss_fn = torch.nn.functional.cross_entropy
        else:
            values = np.asarray(y, dtype="float64")
            self.y_mean_, self.y_scale_ = float(values.mean()), float(values.std() or 1.0)
            self.n_outputs_ = 1
            targets = [((values - self.y_mean_) / self.y_scale_).astype("float32")]

            def loss_fn(out: Any, target: Any) -> Any:
                return torch.nn.functional.mse_loss(out[:, 0], target)

        self.module_ = build_mlp(self.n_inputs_, self.hidden, self.n_outputs_, self.dropout)
        train_network(
            self.module_,
            loss_fn,
            X,
            targets,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            seed=self.random_state,
        )
        return self

    def _forward(self, X: np.ndarray) -> np.ndarray:
        torch = _torch()
        if self.module_ is None:
            raise ModelError("TorchMLP is not fitted")
        with torch.no_grad():
            out = self.module_(torch.as_tensor(np.asarray(X, dtype="float32")))
        return out.numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier only)."""
        logits = self._forward(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class codes (classifier) or target values (regressor)."""
        if self.kind == "classifier":
            return self.predict_proba(X).argmax(axis=1)
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_

    def config(self) -> dict[str, Any]:
        """What :func:`load_model` needs to rebuild the module."""
        return {
            **self.get_params(),
            "hidden": list(self.hidden),
            "n_inputs": self.n_inputs_,
            "n_outputs": self.n_outputs_,
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
        }


def check_adapter(info: dict[str, Any], adapter: str, suffix: str = ".safetensors") -> None:
    """Refuse an artifact written by another adapter, or in another format."""
    if info.get("adapter") != adapter:
        raise ModelError(
            f"artifact {info.get('file')!r} was written by the {info.get('adapter')!r} adapter, "
            f"not {adapter!r}"
        )
    if not str(info.get("file", "")).endswith(suffix):
        raise ModelError(f"{info.get('file')}: the {adapter} adapter only reads {suffix} files")


def save_weights(
    module: Any, directory: Path, stem: str, adapter: str, config: dict[str, Any]
) -> dict[str, Any]:
    """Write a module's state dict to ``<stem>.safetensors``; returns the artifact record."""
    from safetensors.torch import save_file

    path = directory / f"{stem}.safetensors"
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return {"adapter": adapter, "file": path.name, "format": "safetensors", **config}


def load_weights(module: Any, directory: Path, info: dict[str, Any]) -> Any:
    """Load safetensors weights into a freshly built ``module`` (no pickle involved)."""
    from safetensors.torch import load_file

    path = directory / str(info["file"])
    try:
        module.load_state_dict(load_file(str(path)))
    except Exception as exc:
        raise ModelError(f"{path}: weights do not fit the recorded shape ({exc})") from exc
    module.eval()
    return module


def save_model(estimator: TorchMLP, directory: Path, stem: str = "model") -> dict[str, Any]:
    """Write the weights to ``<stem>.safetensors``; the shape goes into the returned record."""
    if not isinstance(estimator, TorchMLP) or estimator.module_ is None:
        raise ModelError("the torch adapter saves fitted TorchMLP estimators only")
    return save_weights(estimator.module_, directory, stem, ADAPTER, estimator.config())


def load_model(directory: Path, info: dict[str, Any]) -> TorchMLP:
    """Rebuild a :class:`TorchMLP` and load its safetensors weights."""
    check_adapter(info, ADAPTER)
    params = {k: info[k] for k in TorchMLP().get_params() if k in info}
    params["hidden"] = tuple(params.get("hidden", ()))
    estimator = TorchMLP(**params)
    estimator.n_inputs_ = int(info["n_inputs"])
    estimator.n_outputs_ = int(info["n_outputs"])
    estimator.y_mean_ = float(info["y_mean"])
    estimator.y_scale_ = float(info["y_scale"])
    module = build_mlp(estimator.n_inputs_, estimator.hidden, estimator.n_outputs_, 0.0)
    estimator.module_ = load_weights(module, directory, info)
    return estimator
