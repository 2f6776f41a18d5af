"""The deployment files as shipped: monitoring valid for promtool and naming only metrics that
exist; the compose stack keeping what is costly to make."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import hitpred.metrics  # noqa: F401  (defines every metric on the default registry)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: Series a worker exports under a metric family's name (histograms add suffixes).
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_prometheus_config_passes_promtool_as_shipped() -> None:
    result = subprocess.run(
        [_promtool(), "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(DEPLOY / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "hitpred.json").read_text())
    for panel in dashboard["panels"]:
        exprs.extend(target["expr"] for target in panel.get("targets", []))
    return exprs


def _exported() -> set[str]:
    names: set[str] = set()
    for collector in list(REGISTRY._collector_to_names):  # every registered family
        for family in collector.describe() if hasattr(collector, "describe") else []:
            names.add(family.name)
            names.update(family.name + suffix for suffix in SUFFIXES)
    return names


def test_every_metric_the_dashboard_and_alerts_name_is_exported_by_hitpred() -> None:
    exprs = _expressions()
    assert len(exprs) >= 10
    named = {m for expr in exprs for m in re.findall(r"\b(hitpred_[a-z_]+)\b", expr)}
    others = {
        m
        for expr in exprs
        for m in re.findall(r"\b([a-z_]+_(?:total|lag|seconds|bytes))\b", expr)
        if not m.startswith("hitpred_")
    }
    assert not others, f"metrics no HitPred process exports: {sorted(others)}"
    missing = named - _exported()
    assert not missing, f"named in deploy/ but not exported: {sorted(missing)}"
    # The lag panel and alert read the worker's own lag, not an exporter's.
    assert "hitpred_consumer_lag_messages" in named


def test_the_compose_workers_keep_the_model_cache_across_restarts_and_share_it() -> None:
    root = DEPLOY.parent
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    state_dir = re.search(r"HITPRED_STATE_DIR=(\S+)", dockerfile)
    assert state_dir is not None
    cache = f"{state_dir.group(1)}/models"  # Settings.model_cache_dir when unset
    assert "model-cache" in compose["volumes"]
    for service in ("worker", "web"):
        assert "HITPRED_MODEL_CACHE" not in compose["services"][service].get("environment", {})
        assert f"model-cache:{cache}" in compose["services"][service]["volumes"], service
    # The folder exists in the image, owned by its user, so the new volume takes that owner.
    assert f"mkdir -p {cache} && chown -R hitpred" in dockerfile
