"""Language detection of lyrics: ISO 639-1 codes, None when unsure, batches in order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hitpred.errors import ConfigError
from hitpred.features import language
from hitpred.features.language import detect_language, detect_languages

pytest.importorskip("lingua")

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"

ENGLISH = "I've been walking down this lonely road, and every night I think of you"
SPANISH = "[Coro]\nNo sé qué me pasa cuando estoy contigo, me vuelvo loco por tu amor"
PORTUGUESE = "Eu sei que vou te amar, por toda a minha vida eu vou te amar"


def test_english_and_spanish_lines() -> None:
    assert detect_language(ENGLISH) == "en"
    assert detect_language(SPANISH) == "es"
    assert detect_language(PORTUGUESE) == "pt"


@pytest.mark.parametrize("junk", ["", "   ", "ok", "!!!! 1234 .... ???", "[Chorus]\n[Verse 2]"])
def test_too_short_or_junk_is_none(junk: str) -> None:
    assert detect_language(junk) is None


def test_batch_keeps_order_and_matches_single_calls() -> None:
    texts = [SPANISH, "", ENGLISH, "12345", PORTUGUESE]
    assert detect_languages(texts) == ["es", None, "en", None, "pt"]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages([]) == []


def test_restricted_language_set_full_accuracy_and_bad_codes() -> None:
    assert detect_language(PORTUGUESE, languages=("en", "es")) in {"en", "es", None}
    assert detect_language(SPANISH, languages=("en", "es"), low_accuracy=False) == "es"
    with pytest.raises(ConfigError, match="xx"):
        detect_language(ENGLISH, languages=("en", "xx"))


def test_detector_is_shared_after_concurrent_first_use() -> None:
    languages = ("en", "fr", "it")
    key = (languages, True)
    language._detectors.pop(key, None)
    results: list[str | None] = []

    def detect() -> None:
        results.append(detect_language(ENGLISH, languages=languages, low_accuracy=True))

    threads = [threading.Thread(target=detect) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    built = language._detectors[key]
    assert results == ["en"] * 4
    detect_language(ENGLISH, languages=languages, low_accuracy=True)
    assert language._detectors[key] is built


def test_real_billboard_lyrics_are_mostly_english() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"real data sets not found at {SHARED}")
    from hitpred.datasets import billboard

    lyrics = billboard.load(SHARED / "billboard-lyrics").frame["lyrics"].dropna().tolist()[:200]
    found = detect_languages(lyrics)
    assert found.count("en") >= 0.9 * len(found)
    assert set(found) - {None} <= set(language.LYRICS_LANGUAGES)
