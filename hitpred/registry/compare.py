"""Champion against challenger on live traffic: pairs the served predictions with the shadow
ones of the same releases and summarises where they agree (``hitpred models compare``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hitpred.models.base import Task
from hitpred.predictions import FIELD

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """The summary of one task's pairs (served, shadow) of predictions."""

    task: Task
    pairs: int = 0
    served_only: int = 0
    champion_versions: set[str] = field(default_factory=set)
    challenger_versions: set[str] = field(default_factory=set)
    #: The label each side chose (hit/flop, tier, genre): the share of pairs that agree.
    agreement: float | None = None
    #: |served - shadow| of the score (hit probability, popularity 0-100), per pair.
    mean_abs_difference: float | None = None
    max_abs_difference: float | None = None

    def lines(self) -> list[str]:
        """What ``hitpred models compare`` prints."""
        if not self.pairs:
            return [
                f"{self.task.value}: no shadow prediction paired with a served one "
                f"({self.served_only} served predictions without a shadow one)"
            ]
        out = [
            f"{self.task.value}: {self.pairs} releases scored by both (champion "
            f"v{', v'.join(sorted(self.champion_versions))}, challenger "
            f"v{', v'.join(sorted(self.challenger_versions))})"
        ]
        if self.agreement is not None:
            out.append(f"  same answer: {self.agreement:.1%}")
        if self.mean_abs_difference is not None:
            out.append(
                f"  score difference: mean {self.mean_abs_difference:.4f}, "
                f"max {self.max_abs_difference:.4f}"
            )
        return out


def _label_and_score(task: Task, section: Mapping[str, Any]) -> tuple[str, float | None]:
    if task is Task.HIT:
        return str(section["is_hit"]), float(section["probability"])
    if task is Task.POPULARITY:
        return str(section["tier"]), float(section["popularity"])
    if task is Task.GENRE:
        return str(section["genre"]), None
    return str(section.get("tier")), None


def compare(
    task: Task, served: Iterable[Mapping[str, Any]], shadow: Iterable[Mapping[str, Any]]
) -> Comparison:
    """Pair predictions by event id (the last of each side, should a release come twice) and
    compare the task's section where the shadow one came from a different model version."""
    name = FIELD[task]
    result = Comparison(task)
    by_event = {p["event_id"]: p[name] for p in served if p.get(name)}
    labels: list[bool] = []
    differences: list[float] = []
    paired: set[str] = set()
    for prediction in shadow:
        event_id, section = prediction.get("event_id"), prediction.get(name)
        mine = by_event.get(event_id)
        if section is None or mine is None:
            continue
        paired.add(str(event_id))
        result.champion_versions.add(str(mine["model"]["version"]))
        result.challenger_versions.add(str(section["model"]["version"]))
        label, score = _label_and_score(task, mine)
        other_label, other_score = _label_and_score(task, section)
        labels.append(label == other_label)
        if score is not None and other_score is not None:
            differences.append(abs(score - other_score))
    result.pairs = len(labels)
    result.served_only = len(set(by_event) - paired)
    if labels:
        result.agreement = float(np.mean(labels))
    if differences:
        result.mean_abs_difference = float(np.mean(differences))
        result.max_abs_difference = float(np.max(differences))
    return result
