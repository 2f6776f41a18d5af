"""The pages render, their assets ship in the package, the sliders stay inside the schema."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hitpred.schemas import ReleaseEvent
from hitpred.web.app import WEB_ROOT
from hitpred.web.descriptors import SLIDERS

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("path", "marker"),
    [("/", "Hit or Flop?"), ("/live", "Latest predictions"), ("/insights", "What makes hits")],
)
def test_pages_render(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert marker in response.text
    assert "/static/vendor/chart.umd.min.js" in response.text
    assert "cdn" not in response.text.lower()


def test_form_shows_every_slider_with_its_explanation(client: TestClient) -> None:
    page = client.get("/").text
    for slider in SLIDERS:
        assert f'id="{slider.name}"' in page
        assert slider.explanation in page


@pytest.mark.parametrize("slider", SLIDERS, ids=[s.name for s in SLIDERS])
def test_slider_ends_are_valid_event_values(slider: object) -> None:
    from hitpred.web.descriptors import Slider

    assert isinstance(slider, Slider)
    base = {"event_id": "e", "track_id": "t", "title": "x", "artists": ["a"]}
    for value in (slider.minimum, slider.maximum, slider.default):
        scaled = value * slider.scale
        number = round(scaled) if slider.integer else scaled
        ReleaseEvent.model_validate({**base, "release_date": "2020-01-01", slider.name: number})


def test_static_assets_are_served_and_packaged(client: TestClient) -> None:
    for name in ("vendor/chart.umd.min.js", "hitpred.css", "predict.js", "live.js", "insights.js"):
        assert client.get(f"/static/{name}").status_code == 200
    assert (WEB_ROOT / "static" / "vendor" / "chart.js.LICENSE.md").is_file()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["hitpred.web"]
    packaged = {p for pattern in patterns for p in WEB_ROOT.glob(pattern)}
    on_disk = {p for p in (WEB_ROOT / "static").rglob("*") if p.is_file()}
    on_disk |= set((WEB_ROOT / "templates").glob("*"))
    assert on_disk <= packaged


def test_insights_say_when_no_data_set_is_configured(client: TestClient) -> None:
    found = client.get("/v1/insights").json()
    assert found["configured"] is False
    assert "HITPRED_SERVE_INSIGHTS_DATA" in found["message"]
    assert found["importances"] and found["champions"] == []


def test_live_says_when_no_broker_is_configured(client: TestClient) -> None:
    assert client.get("/v1/live").json() == {
        "enabled": False,
        "reason": "the live feed is off (HITPRED_SERVE_LIVE=false)",
    }
