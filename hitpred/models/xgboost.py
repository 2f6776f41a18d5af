"""XGBoost adapter: boosters in XGBoost's own UBJSON format (no pickle).

Only the booster is stored here; a pipeline's preprocessing is saved separately by the
sklearn adapter (see :mod:`hitpred.models.pipeline`), so no Python object graph ever holds an
XGBoost estimator inside a skops or pickle file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitpred.errors import ModelError

__all__ = ["ADAPTER", "load_model", "save_model"]

ADAPTER = "xgboost"


def save_model(estimator: Any, directory: Path, stem: str = "model") -> dict[str, Any]:
    """Write ``<stem>.ubj`` (an XGBClassifier or XGBRegressor) into ``directory``."""
    import xgboost as xgb

    if isinstance(estimator, xgb.XGBClassifier):
        estimator_type = "classifier"
    elif isinstance(estimator, xgb.XGBRegressor):
        estimator_type = "regressor"
    else:
        raise ModelError(f"the xgboost adapter cannot save {type(estimator).__name__}")
    path = directory / f"{stem}.ubj"
    estimator.save_model(path)
    return {"adapter": ADAPTER, "file": path.name, "format": "ubj", "estimator": estimator_type}


def load_model(directory: Path, info: dict[str, Any]) -> Any:
    """Load a booster written by :func:`save_model` into its scikit-learn wrapper."""
    import xgboost as xgb

    if info.get("adapter") != ADAPTER:
        raise ModelError(
            f"artifact {info.get('file')!r} was written by the {info.get('adapter')!r} adapter, "
            f"not {ADAPTER!r}"
        )
    path = directory / str(info["file"])
    if path.suffix not in (".ubj", ".json"):
        raise ModelError(f"{path.name}: the xgboost adapter only reads .ubj/.json boosters")
    kind = info.get("estimator")
    estimator = xgb.XGBClassifier() if kind == "classifier" else xgb.XGBRegressor()
    try:
        estimator.load_model(path)
    except xgb.core.XGBoostError as exc:
        raise ModelError(f"{path}: not an XGBoost model ({exc})") from exc
    estimator.set_params(n_jobs=1)
    return estimator
