"""The web pages in a real browser: headless Chromium driven by Selenium against a real server.

The server is `create_app` under uvicorn on a free port (in a thread of the test process),
with the baseline champions already loaded; the live page reads the predictions and dead
letters of a real worker on the real broker. Each test saves a screenshot of its page into
``docs/screenshots/``.

Without chromium and chromedriver (Debian: ``apt-get install chromium chromium-driver``) the
tests skip, except under ``CI=true``, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from hitpred.baseline import malformed_release_messages, synthetic_release_events
from hitpred.models.base import Task, TaskModel
from hitpred.scoring import Scorer
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, free_port
from hitpred.web.service import PredictionService
from tests.integration.conftest import produce

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
SPOTIFY = REPO.parent / "shared" / "datasets" / "spotify-hit-predictor"
WAIT_S = 30.0


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = (
        "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, one per module."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def baseline_service(baseline_models: dict[Task, TaskModel]) -> Iterator[PredictionService]:
    """The baseline champions without enrichment (no Redis, no lyrics encoder to load)."""
    service = PredictionService(Scorer(baseline_models), None)
    yield service
    service.close()


@contextmanager
def running(settings: Settings, service: PredictionService) -> Iterator[str]:
    """``create_app`` served by uvicorn on a free port; yields its base URL."""
    import uvicorn

    from hitpred.web import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings, service=service),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _wait(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def _screenshot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5_000


def _text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def _fill(driver: Any, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(serve_live=False, registry_uri=str(tmp_path / "registry"), **values)


def test_hit_or_flop_answers(
    browser: Any, baseline_service: PredictionService, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with running(_settings(tmp_path), baseline_service) as url:
        browser.get(url + "/")
        _fill(browser, "title", "Love Me Like Neon")
        _fill(browser, "artists", "The Paper Hearts; DJ Echo")
        _fill(browser, "year", "2016")
        _fill(browser, "genre", "pop")
        browser.find_element(By.ID, "submit").click()
        _wait(browser, lambda d: d.find_element(By.ID, "result").is_displayed())
        probability = _text(browser, "hit-probability")
        assert probability.endswith("%") and 0.0 <= float(probability.rstrip(" %")) <= 100.0
        assert _text(browser, "verdict") in ("Hit!", "Flop")
        assert _text(browser, "tier") in ("ice-cold", "lukewarm", "blazing-hot")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#genre-top3 li")) == 3
        assert "baseline-synthetic-xgboost" in _text(browser, "models")
        bars = browser.execute_script(
            "const c = Chart.getChart('contributions-chart');"
            "return c ? c.data.datasets[0].data.length : 0;"
        )
        assert bars >= 3
        _screenshot(browser, "hit-or-flop")


def test_hit_or_flop_explains_invalid_input(
    browser: Any, baseline_service: PredictionService, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with running(_settings(tmp_path), baseline_service) as url:
        browser.get(url + "/")
        _fill(browser, "title", "")
        _fill(browser, "year", "someday")
        browser.find_element(By.ID, "submit").click()
        _wait(browser, lambda d: d.find_element(By.ID, "errors").is_displayed())
        message = _text(browser, "errors")
        assert "cannot be scored" in message
        assert "title:" in message and "release_date:" in message
        assert not browser.find_element(By.ID, "result").is_displayed()
        _screenshot(browser, "hit-or-flop-invalid")


def test_live_page_follows_a_running_stream(
    browser: Any,
    baseline_service: PredictionService,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    from selenium.webdriver.common.by import By

    s = isolated_settings
    start_worker(s)
    with running(s.model_copy(update={"serve_live": True}), baseline_service) as url:
        browser.get(url + "/live")
        _wait(browser, lambda d: _text(d, "live-status").startswith("connected"))
        good = synthetic_release_events(400, seed=41)
        bad = malformed_release_messages(12, seed=42)
        records: list[tuple[bytes | None, bytes]] = [
            (str(e["track_id"]).encode(), orjson.dumps(e)) for e in good
        ]
        records += [(key, value) for _, key, value in bad]
        produce(s.kafka_bootstrap or "", s.releases_topic, records)
        _wait(browser, lambda d: int(_text(d, "live-predictions")) >= 100, timeout=90)
        first = int(_text(browser, "live-predictions"))
        _wait(
            browser,
            lambda d: (
                int(_text(d, "live-predictions")) == len(good)
                and int(_text(d, "live-dead")) == len(bad)
            ),
            timeout=90,
        )
        assert first <= len(good)
        assert float(_text(browser, "live-throughput")) > 0
        assert _text(browser, "live-p50") != "–" and _text(browser, "live-p99") != "–"
        dead = browser.execute_script(
            "const d = Chart.getChart('dead-chart').data;"
            "return Object.fromEntries(d.labels.map((l, i) => [l, d.datasets[0].data[i]]));"
        )
        assert sum(dead.values()) == len(bad) and dead["decode"] + dead["validate"] == len(bad)
        rows = browser.find_elements(By.CSS_SELECTOR, "#latest tbody tr")
        assert len(rows) >= 5
        _screenshot(browser, "live")
        browser.get("about:blank")  # closes the event stream before the server stops


def test_insights_page_draws_its_charts(
    browser: Any, baseline_service: PredictionService, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    if not SPOTIFY.is_dir():
        pytest.skip(f"the Spotify hit predictor data set is not at {SPOTIFY}")
    settings = _settings(tmp_path, serve_insights_data=SPOTIFY)
    with running(settings, baseline_service) as url:
        browser.get(url + "/insights")
        _wait(browser, lambda d: d.find_element(By.ID, "dataset-section").is_displayed(), 60)
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#importances canvas")))
        canvases = browser.find_elements(By.TAG_NAME, "canvas")
        # 11 descriptor trends, classes, scatter, words, and one importance chart per task.
        assert len(canvases) >= 17
        for canvas in canvases:
            size = canvas.size
            assert size["width"] > 0 and size["height"] > 0, canvas.get_attribute("id")
        charts = browser.execute_script(
            "return Object.values(Chart.instances).map(c => ({id: c.canvas.id,"
            " datasets: c.data.datasets.length,"
            " points: c.data.datasets.reduce((n, d) => n + d.data.length, 0)}));"
        )
        assert len(charts) == len(canvases)
        for chart in charts:
            assert chart["datasets"] >= 1 and chart["points"] > 0, chart
        by_id = {c["id"]: c for c in charts}
        assert by_id["scatter-chart"]["datasets"] == 2
        assert by_id["trend-danceability"]["points"] == 12  # 6 decades x hits, flops
        assert "spotify-hit-predictor" in _text(browser, "insights-source")
        _screenshot(browser, "insights")


def test_insights_page_says_when_no_data_set_is_configured(
    browser: Any, baseline_service: PredictionService, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with running(_settings(tmp_path), baseline_service) as url:
        browser.get(url + "/insights")
        _wait(browser, lambda d: d.find_element(By.ID, "insights-message").is_displayed())
        assert "No training data set is configured" in _text(browser, "insights-message")
