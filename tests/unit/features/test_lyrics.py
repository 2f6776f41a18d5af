"""The lyrics encoder: vectors, token limit, runtimes against fp32, the ONNX export cache."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from hitpred.errors import ConfigError, EnrichmentError, ModelError
from hitpred.features import hf_folder, lyrics_onnx
from hitpred.features.hf_folder import load_tokenizer
from hitpred.features.lyrics import (
    LyricsEncoder,
    LyricsEncoders,
    default_model_dir,
    load_lyrics_encoder,
    model_digest,
)

pytest.importorskip("transformers")

#: The shared data sets, resolved from the repository root (``../shared/datasets``).
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"

LONG = " ".join(
    f"verse {i}: the city lights are burning and I keep on walking home alone tonight"
    for i in range(40)
)


@pytest.fixture(scope="module")
def fp32() -> LyricsEncoder:
    """The reference: plain fp32 torch on the default model."""
    return load_lyrics_encoder(runtime="torch")


@pytest.fixture(scope="module")
def real_lyrics() -> list[str]:
    """48 real lyrics: half PopLyrics-1K, half Billboard."""
    if not SHARED.is_dir():
        pytest.skip(f"real data sets not found at {SHARED}")
    from bench.lyrics import real_lyrics as load

    return load(48, SHARED)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_vectors_are_unit_float32_rows(fp32: LyricsEncoder) -> None:
    vectors = fp32.encode(["Hello darkness my old friend", "La la la", LONG])
    assert vectors.shape == (3, 384) == (3, fp32.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert fp32.encode([]).shape == (0, 384)


def test_ids_name_model_hash_limit_and_runtime(fp32: LyricsEncoder) -> None:
    assert re.fullmatch(r"all-MiniLM-L6-v2@[0-9a-f]{8}/128", fp32.model_id)
    assert fp32.runtime_id == f"{fp32.model_id}/torch"


def test_deterministic_and_independent_of_batch_order(fp32: LyricsEncoder) -> None:
    texts = ["Baby one more time", "We will rock you", LONG, "Yesterday all my troubles"]
    first = fp32.encode(texts)
    np.testing.assert_array_equal(first, fp32.encode(texts))
    np.testing.assert_allclose(fp32.encode(texts[::-1])[::-1], first, atol=1e-5)


def test_words_past_the_token_limit_change_nothing(fp32: LyricsEncoder) -> None:
    assert len(fp32.tokenize([LONG])["input_ids"][0]) == 128
    longer = LONG + " and then a completely different ending about rockets and volcanoes"
    np.testing.assert_allclose(fp32.encode([LONG]), fp32.encode([longer]), atol=1e-6)
    # Within the limit the same extra words do change the vector (the check above can fail).
    short = "the city lights are burning"
    moved = _cosines(fp32.encode([short]), fp32.encode([short + " rockets and volcanoes"]))
    assert moved[0] < 0.99


def test_similar_lyrics_are_closer_than_unrelated(fp32: LyricsEncoder) -> None:
    love, heartbreak, tax = fp32.encode(
        [
            "I love you baby, hold me close tonight",
            "Darling I adore you, stay in my arms tonight",
            "Quarterly corporate tax filing deadlines for small businesses",
        ]
    )
    assert love @ heartbreak > love @ tax + 0.2


def test_empty_lyrics_are_refused(fp32: LyricsEncoder) -> None:
    with pytest.raises(EnrichmentError, match="#1"):
        fp32.encode(["real words", "  \n "])


def test_missing_or_wrong_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_lyrics_encoder(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"no config\.json"):
        load_lyrics_encoder(tmp_path)


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown lyrics runtime"):
        load_lyrics_encoder(runtime="tensorflow")
    with pytest.raises(ConfigError, match="max_tokens"):
        load_lyrics_encoder(runtime="torch", max_tokens=100_000)


def test_digest_follows_the_files_that_matter(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "README.md").write_text("a model")
    before = model_digest(tmp_path)
    (tmp_path / "README.md").write_text("a model, documented better")
    assert model_digest(tmp_path) == before
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    assert model_digest(tmp_path) != before


def test_per_language_encoders_fall_back_to_the_default(fp32: LyricsEncoder) -> None:
    spanish = object.__new__(LyricsEncoder)
    encoders = LyricsEncoders(default=fp32, by_language={"es": spanish})
    assert encoders.for_language("es") is spanish
    assert encoders.for_language("fr") is fp32
    assert encoders.for_language(None) is fp32


@pytest.mark.slow
def test_default_runtime_matches_fp32_on_real_lyrics(
    fp32: LyricsEncoder, real_lyrics: list[str], tmp_path: Path
) -> None:
    fast = load_lyrics_encoder(cache_dir=tmp_path)
    assert fast.model_id == fp32.model_id
    cosines = _cosines(fast.encode(real_lyrics), fp32.encode(real_lyrics))
    assert cosines.min() >= 0.99, f"{fast.runtime_id}: min cosine {cosines.min():.4f}"


@pytest.mark.slow
def test_onnx_export_is_cached_and_reused(
    fp32: LyricsEncoder, real_lyrics: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["Hello darkness my old friend", LONG]
    import transformers

    def no_weights(*args: object, **kwargs: object) -> None:
        raise AssertionError("the torch weights were loaded in the process running ONNX")

    # The export runs in a process of its own: this one reads only the tokenizer and config.
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", no_weights)
    first = load_lyrics_encoder(runtime="onnx", cache_dir=tmp_path)
    exported = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert len(exported) == 1 and exported[0].endswith(f"-opset{lyrics_onnx.OPSET}.onnx")
    assert first.runtime_id == f"{fp32.model_id}/onnx"

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again although the cache holds the model")

    export_files = lyrics_onnx._export_files
    monkeypatch.setattr(lyrics_onnx, "_export_files", no_export)
    second = load_lyrics_encoder(runtime="onnx", cache_dir=tmp_path)
    np.testing.assert_array_equal(second.encode(texts), first.encode(texts))
    assert _cosines(second.encode(texts), fp32.encode(texts)).min() > 0.9999

    monkeypatch.setattr(lyrics_onnx, "_export_files", export_files)  # int8 is not there yet
    int8 = load_lyrics_encoder(runtime="onnx-int8", cache_dir=tmp_path)  # from the cached export
    assert len(list(tmp_path.glob("*.onnx"))) == 2  # the fp32 export and its int8 version
    assert not list(tmp_path.glob("*.tmp"))  # no half-written file left
    # onnx-int8 is the default where bf16 is not native: it must hold 0.99 on real lyrics too.
    cosines = _cosines(int8.encode(real_lyrics), fp32.encode(real_lyrics))
    assert cosines.min() >= 0.99, f"onnx-int8: min cosine {cosines.min():.4f}"

    # A process running the cached export imports neither transformers nor torch (~400 MB).
    probe = (
        "import sys; from pathlib import Path; "
        "from hitpred.features.lyrics import load_lyrics_encoder; "
        f"e = load_lyrics_encoder(runtime='onnx-int8', cache_dir=Path({str(tmp_path)!r})); "
        "e.encode(['la la la']); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = ["torch"] if Path("/proc/driver/nvidia").exists() else []  # asks about CUDA
    assert done.stdout.strip() == repr(expected)


def test_the_tokenizer_file_tokenizes_as_transformers_does(real_lyrics: list[str]) -> None:
    transformers = pytest.importorskip("transformers")
    folder = default_model_dir()
    ours = load_tokenizer(folder)
    theirs = hf_folder._TransformersTokenizer(
        transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    )
    assert not isinstance(ours, hf_folder._TransformersTokenizer)  # the tokenizer.json path
    texts = [
        *real_lyrics,
        LONG,
        "Café déjà vu, naïve señorita, Ångström",
        "東京の夜 🎶 ♥ 사랑해",
        "  spaced   out\ttabs\nand lines  ",
        "a",
        "ALL CAPS SHOUTING!!!",
    ]
    for max_length in (8, 128, 256):
        got, want = ours(texts, max_length), theirs(texts, max_length)
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.slow
def test_a_failed_export_is_a_model_error_with_the_exporters_words(tmp_path: Path) -> None:
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (folder / name).write_bytes((default_model_dir() / name).read_bytes())
    # Tokenizer and config load here; the exporting process finds no weights.
    with pytest.raises(ModelError, match=r"exporting the lyrics encoder .* failed \(exit 1\)"):
        load_lyrics_encoder(folder, runtime="onnx", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.onnx"))


@pytest.mark.slow
def test_loads_racing_on_an_empty_cache_export_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[str] = []
    export_files = lyrics_onnx._export_files

    def counted(*args: object, **kwargs: object) -> None:
        exports.append(str(args[2]))
        export_files(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lyrics_onnx, "_export_files", counted)
    # Two workers starting together: both find the cache empty; one exports, the other waits
    # for the lock and then reads the file (two exports at once broke the int8 quantiser).
    with ThreadPoolExecutor(2) as pool:
        loads = [
            pool.submit(load_lyrics_encoder, runtime="onnx-int8", cache_dir=tmp_path)
            for _ in range(2)
        ]
        first, second = (load.result(timeout=600) for load in loads)
    assert len(exports) == 1
    texts = ["Hello darkness my old friend", LONG]
    np.testing.assert_array_equal(first.encode(texts), second.encode(texts))
