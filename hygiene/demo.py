"""`hygiene demo`: a labelled corpus built at run time, cleaned, and scored against its labels.

Human documents: prose from the Python standard library's own documentation (`pydoc_data.topics`
and module docstrings), present on every Python install. Machine documents: written now by the
default LM, asked about the same subjects. Then edited copies (near-duplicates) and re-spaced
copies (exact duplicates after normalisation) of human documents are injected after their
originals. The corpus is written as two parquet shards and one gzipped JSONL shard and cleaned.
"""

from __future__ import annotations

import inspect
import json
import pkgutil
import random
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.io import columns as C
from hygiene.package_text import distinct_documents
from hygiene.progress import NullProgress, Progress

__all__ = ["human_documents", "generate_documents", "inject_duplicates", "build_corpus", "run_demo", "LABEL"]

LABEL = "demo_label"  # ground truth column: human, machine, near_duplicate, exact_duplicate
_MIN_WORDS, _MAX_WORDS = 60, 160


def _prose_paragraphs(text: str) -> list[str]:
    """Paragraphs of running prose: no code, no indented blocks, no tables."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        if not para.strip() or para.startswith((" ", "\t")) or ">>>" in para or "|" in para or "===" in para:
            continue
        flat = " ".join(para.split())
        if len(flat.split()) >= 12 and flat[-1] in ".:)":
            out.append(flat)
    return out


def _stdlib_texts() -> list[tuple[str, str]]:
    """(subject, text) pairs from the documentation that ships with Python."""
    import pydoc_data.topics

    texts = [(name, body) for name, body in sorted(pydoc_data.topics.topics.items())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in sorted(m.name for m in pkgutil.iter_modules() if m.name in sys.stdlib_module_names):
            if module.startswith("_") or module in {"antigravity", "this", "idlelib", "tkinter", "turtledemo"}:
                continue
            try:
                doc = inspect.getdoc(__import__(module))
            except Exception:  # some stdlib modules need a display, a platform or a C extension
                continue
            if doc:
                texts.append((module, doc))
    return texts


def human_documents(n: int, seed: int = 0) -> list[dict[str, str]]:
    """`n` documents of 60-160 words packed from consecutive prose paragraphs of one subject."""
    docs = []
    for subject, text in _stdlib_texts():
        current: list[str] = []
        for para in _prose_paragraphs(text):
            current.append(para)
            words = sum(len(p.split()) for p in current)
            if words >= _MIN_WORDS:
                doc = " ".join(" ".join(current).split()[:_MAX_WORDS])
                docs.append({"text": doc, "subject": subject})
                current = []
    docs = distinct_documents(docs)  # ground truth must not hold duplicates of its own
    if len(docs) < n:
        raise ValueError(f"only {len(docs)} distinct human documents available on this Python, asked for {n}")
    return random.Random(seed).sample(docs, n)


_PROMPTS = (
    "Explain {s} in Python in one detailed paragraph.",
    "Write a short article about {s} in Python.",
    "Describe how {s} works in Python and when to use it.",
    "Write documentation for {s} in Python, in plain prose.",
)


def generate_documents(lm, subjects: list[str], *, seed: int = 0, max_new_tokens: int = 128,
                       batch_size: int = 16, temperature: float = 0.8, top_p: float = 0.95,
                       progress=None) -> list[str]:
    """One machine-written document per subject, sampled from `lm` (a `detectors.lm.LoadedLM`)."""
    import torch

    tok, model = lm.tokenizer, lm.model
    rng = random.Random(seed)
    prompts = [rng.choice(_PROMPTS).format(s=s.replace("-", " ")) for s in subjects]
    if getattr(tok, "chat_template", None):
        prompts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    torch.manual_seed(seed)
    out: list[str] = []
    padding_side = tok.padding_side
    tok.padding_side = "left"  # generation continues from the right end of every prompt
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(lm.device) for k, v in enc.items()}
            with torch.inference_mode():
                ids = model.generate(**enc, do_sample=True, temperature=temperature, top_p=top_p,
                                     repetition_penalty=1.1, max_new_tokens=max_new_tokens,
                                     pad_token_id=tok.pad_token_id)
            new = ids[:, enc["input_ids"].shape[1]:]
            out.extend(" ".join(t.split()) for t in tok.batch_decode(new, skip_special_tokens=True))
            if progress is not None:
                progress.advance(len(new))
    finally:
        tok.padding_side = padding_side
    return out


def _edit(text: str, rng: random.Random) -> str:
    """A near-duplicate: 1-5 % of the words deleted, swapped with a neighbour or duplicated."""
    words = text.split()
    for _ in range(max(1, round(len(words) * rng.uniform(0.01, 0.05)))):
        i = rng.randrange(len(words) - 1)
        op = rng.choice(("delete", "swap", "repeat"))
        if op == "delete":
            del words[i]
        elif op == "swap":
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            words.insert(i, words[i])
    return " ".join(words)


def inject_duplicates(docs: list[dict[str, Any]], n_near: int, n_exact: int, seed: int = 0) -> list[dict[str, Any]]:
    """Shuffle `docs` and insert copies of human documents somewhere after their originals."""
    rng = random.Random(seed)
    docs = [dict(d, copy_of=None) for d in docs]  # every row has the field: parquet infers from the first
    rng.shuffle(docs)
    human = [i for i, d in enumerate(docs) if d[LABEL] == "human"]
    originals = rng.sample(human, n_near + n_exact)
    keyed = [(float(i), d) for i, d in enumerate(docs)]
    for k, i in enumerate(originals):
        src = docs[i]
        if k < n_near:
            copy = dict(src, text=_edit(src["text"], rng), **{LABEL: "near_duplicate"})
        else:  # differs only in case and spacing: the same text after normalisation
            copy = dict(src, text="  " + src["text"].upper().replace(" ", "   ") + "\n", **{LABEL: "exact_duplicate"})
        copy["copy_of"] = src["doc_id"]
        keyed.append((rng.uniform(i + 0.5, len(docs)), copy))
    keyed.sort(key=lambda kv: kv[0])
    return [dict(d, doc_id=d.get("doc_id") if d[LABEL] in ("human", "machine") else f"copy-{n}")
            for n, (_, d) in enumerate(keyed)]


def build_corpus(out: Path, docs: list[dict[str, Any]]) -> list[Path]:
    """Two parquet shards and one gzipped JSONL shard (every format `clean` reads)."""
    import gzip

    out.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(len(docs)), 3)
    paths = []
    for k, part in enumerate(parts[:2]):
        path = out / f"part-{k}.parquet"
        pq.write_table(pa.Table.from_pylist([docs[i] for i in part]), path)
        paths.append(path)
    path = out / "part-2.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in parts[2]:
            handle.write(json.dumps(docs[i]) + "\n")
    paths.append(path)
    return paths


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _evaluate(run_dir: Path) -> dict[str, Any]:
    """Decisions and detections against the ground truth.

    Machine detection is judged on the original documents by the score flag; duplicate detection on
    clusters (a copy is found when it shares its original's cluster), whatever removed the row.
    """
    columns = ["doc_id", "copy_of", LABEL, C.MACHINE, C.CLUSTER, C.REASON]
    # Shard by shard: a JSONL shard's inferred types need not match the parquet shards' exactly.
    files = sorted((run_dir / C.KEPT_DIR).glob("*.parquet")) + sorted((run_dir / C.REMOVED_DIR).glob("*.parquet"))
    rows = []
    for path in files:
        table = pq.read_table(path)
        rows += [{c: r.get(c) for c in columns} for r in table.to_pylist()]  # a shard may lack copy_of
    confusion: dict[str, dict[str, int]] = {}
    for r in rows:
        decision = confusion.setdefault(r[LABEL], {})
        key = r[C.REASON] or "kept"
        decision[key] = decision.get(key, 0) + 1

    originals = [r for r in rows if r[LABEL] in ("human", "machine")]
    flagged = [r for r in originals if r[C.MACHINE]]
    true_machine = sum(r[LABEL] == "machine" for r in originals)
    hits = sum(r[LABEL] == "machine" for r in flagged)
    machine = {"precision": _rate(hits, len(flagged)), "recall": _rate(hits, true_machine),
               "false_positive_rate": _rate(len(flagged) - hits, len(originals) - true_machine),
               "flagged": len(flagged), "actual": true_machine}

    cluster_of = {r["doc_id"]: r[C.CLUSTER] for r in rows}
    group = {r["doc_id"]: r["copy_of"] or r["doc_id"] for r in rows}
    rep_group = {r[C.CLUSTER]: group[r["doc_id"]] for r in rows if r[C.CLUSTER] == r["doc_id"]}
    predicted = [r for r in rows if r[C.CLUSTER] != r["doc_id"]]  # in a cluster, not its representative
    correct = sum(rep_group.get(r[C.CLUSTER]) == group[r["doc_id"]] for r in predicted)
    copies = [r for r in rows if r["copy_of"]]
    found = sum(cluster_of[r["doc_id"]] == cluster_of[r["copy_of"]] for r in copies)
    duplicates = {"precision": _rate(correct, len(predicted)), "recall": _rate(found, len(copies)),
                  "flagged": len(predicted), "actual": len(copies)}
    return {"confusion": confusion, "machine_generated": machine, "duplicates": duplicates}


def run_demo(out: Path, *, n_human: int = 200, n_machine: int = 40, n_near: int = 30, n_exact: int = 10,
             n_calibration: int = 80, seed: int = 0, max_new_tokens: int = 128,
             quiet: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector
    from hygiene.io.atomic import write_json

    from .calibrate import calibrate
    from .config import CleanConfig
    from .pipeline import run

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    progress = progress or NullProgress()
    say("loading the default scorer LM (first run converts the GGUF once, ~30 s) ...")
    lm = load_causal_lm(None)
    human = human_documents(n_human + n_machine + n_calibration, seed)
    held_out = human[n_human + n_machine:]
    subjects = [d["subject"] for d in human[n_human:n_human + n_machine]]  # subjects the human text covers
    say(f"generating {n_machine} machine-written documents with {lm.name} ...")
    progress.start("generate", n_machine)
    machine = generate_documents(lm, subjects, seed=seed, max_new_tokens=max_new_tokens, progress=progress)
    progress.finish()
    docs = [dict(d, doc_id=f"human-{i}", **{LABEL: "human"}) for i, d in enumerate(human[:n_human])]
    docs += [{"text": t, "subject": s, "doc_id": f"machine-{i}", LABEL: "machine"}
             for i, (t, s) in enumerate(zip(machine, subjects))]
    docs = inject_duplicates(docs, n_near, n_exact, seed)
    corpus = build_corpus(out / "corpus", docs)
    say(f"demo corpus: {len(docs)} documents in {out / 'corpus'}")

    # The shipped threshold comes from news and stories; documentation prose sits elsewhere, so the
    # demo does what the README asks of users: calibrate on known-human text of the corpus's domain.
    detector = ZeroShotDetector(lm, max_tokens=CleanConfig().detector.max_tokens)
    reference = out / "calibration" / "human.parquet"
    reference.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(held_out), reference)
    say(f"calibrating the threshold on {len(held_out)} held-out human documents ...")
    calibration = calibrate([reference], CleanConfig(), fpr=0.05, scorer=detector, progress=progress)
    calibration.to_json(out / "calibration" / "calibration.json")
    config = CleanConfig(id_column="doc_id", calibration=str(out / "calibration" / "calibration.json"))
    result = run(corpus, out / "clean", config, overwrite=True, annotate_kept=True, scorer=detector,
                 progress=progress)
    evaluation = _evaluate(out / "clean")
    write_json(out / "evaluation.json", evaluation)
    _print_summary(say, result, evaluation, out)
    return evaluation


def _fmt(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.3f}"


def _print_summary(say, result, evaluation: dict[str, Any], out: Path) -> None:
    say("\nground truth -> decision")
    for label, decisions in evaluation["confusion"].items():
        say(f"  {label:<16} " + ", ".join(f"{d} {n}" for d, n in sorted(decisions.items())))
    for task, what in (("machine_generated", "machine text (score flag, original documents)"),
                       ("duplicates", "injected copies (found in their original's cluster)")):
        m = evaluation[task]
        say(f"  {what}: precision {_fmt(m['precision'])}  recall {_fmt(m['recall'])}  "
            f"({m['flagged']} flagged, {m['actual']} true)")
    say(f"  threshold {result.manifest['threshold']['value']:.4f} from {result.manifest['threshold']['source']}")
    say(f"\ncleaned shards: {result.out / C.KEPT_DIR}")
    say(f"removed rows:   {result.out / C.REMOVED_DIR}")
    say(f"report:         {result.report}")
    say(f"evaluation:     {out / 'evaluation.json'}")
