"""Detector accuracy beyond the summary statistics: single features and learned heads over feature families,
measured on unseen data only, from the per-token cache of benchmarks/token_cache.py (no forward pass here).

Protocols (every learned number is on rows the head never saw, and never on an article it saw):

- leave-one-set-out: train on the other shared sets, test on this one. The sets share source articles
  (every xsum set holds the same 150 human articles; a machine row continues its human row's opening), so
  training rows whose article (first 60 characters) occurs in the test set are dropped first;
- cross-domain: train on every xsum (news) set, test on each writing (stories) set, and the reverse;
- human domains: trained on all seven sets, tested on WikiText-2 test paragraphs and this Python's
  documentation (human only: the false-positive rate at the shipped threshold).

The shipped threshold is chosen the way `train-detector` chooses it: on out-of-fold logits of the training
human rows (leave-one-set-out inside the training sets), at ``--fpr``; zero-shot statistics use the same
rule on their raw scores (the training sets' human rows). TPR at 1 % FPR uses each test set's own human
rows (an oracle per-set threshold, as in the earlier tables).

    .venv/bin/python benchmarks/detect_features.py [--candidates NAME ...] [--fpr 0.05]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import CONFIRM_HUMAN, EXTRA_HUMAN, HUMAN_DOMAINS, MANPAGE_HALVES, detect_sets  # noqa: E402
from token_cache import load  # noqa: E402

from detectors.calibration import threshold_at_fpr  # noqa: E402
from detectors.features import FAMILIES, compute_features, families_contexts, feature_names, sentence_ends  # noqa: E402
from detectors.supervised import fit, head_logits  # noqa: E402

HUMAN_ONLY = (*HUMAN_DOMAINS, *CONFIRM_HUMAN, *MANPAGE_HALVES, *EXTRA_HUMAN)  # sets of human rows only
GPT_SETS = ("writing_gpt-3.5-turbo", "writing_gpt-4", "xsum_gpt-3.5-turbo", "xsum_gpt-4")
BASE_SETS = ("writing_gpt-neo-2.7B", "xsum_gpt2-xl", "xsum_opt-2.7b")


@dataclass(frozen=True)
class Candidate:
    """A zero-shot feature (``families`` empty, ``feature`` named, sign +1 = higher is machine) or a head."""

    name: str
    families: tuple[str, ...] = ()
    feature: str | None = None
    sign: float = 1.0
    hidden: int = 0
    only: tuple[str, ...] | None = None  # learned over these feature names only (a subset of the families)


_SINGLES = ("likelihood", "log_rank", "fast_detectgpt", "chat_likelihood", "chat_gain", "binoculars_raw_chat",
            "binoculars_chat_raw", "fdg_chat_sampler", "fdg_raw_sampler", "ratio_tri", "ratio_uni", "ratio_general",
            "rare_minus_common")


def split_scorer(name: str) -> tuple[str, str]:
    """``"gemma.dist"`` -> ``("gemma", "dist")``; ``"dist"`` -> ``("", "dist")`` (the default scorer)."""
    scorer, _, base = name.rpartition(".")
    return scorer, base


def _known_family(family: str) -> bool:
    scorer, base = split_scorer(family)
    return base in FAMILIES and (not scorer or scorer in SECOND_SCORERS)


def candidate(name: str) -> Candidate:
    """A single feature by name (one of _SINGLES), or a head ``head:FAM+FAM...`` / ``mlp:FAM+FAM...``.

    A family or single feature of a second scorer (``--second NAME=PATH``) is written ``NAME.family`` /
    ``NAME.feature``, e.g. ``gemma.lrr`` or ``head:chat+zeroshot+gemma.zeroshot``."""
    scorer, base = split_scorer(name)
    if base in _SINGLES or (scorer in SECOND_SCORERS and any(base in f for f in FAMILIES.values())):
        if scorer and scorer not in SECOND_SCORERS:
            raise ValueError(f"unknown scorer {scorer!r} in {name!r}: give it with --second {scorer}=PATH")
        return Candidate(name, feature=name)
    kind, _, spec = name.partition(":")
    families = tuple(spec.split("+"))
    if kind not in ("head", "mlp") or not spec or not all(_known_family(f) for f in families):
        raise ValueError(f"unknown candidate {name!r}: a feature of {_SINGLES} or head:/mlp: with families joined "
                         f"by + from {sorted(FAMILIES)} (a second scorer's as NAME.family)")
    return Candidate(name, families, hidden=16 if kind == "mlp" else 0)


# Second scorers by prefix -> (token-cache model key, tokenizer source); filled by use_second_scorer.
SECOND_SCORERS: dict[str, tuple[str, str]] = {}


def use_second_scorer(spec: str) -> str:
    """Register ``NAME=PATH`` (a model whose per-token arrays token_cache.py cached with ``--model PATH``)."""
    from token_cache import model_key

    from detectors.lm import _resolve_source

    name, _, path = spec.partition("=")
    if not name.isidentifier() or not path:
        raise ValueError(f"--second takes NAME=PATH (e.g. gemma=gemma-3-270m.gguf), got {spec!r}")
    SECOND_SCORERS[name] = (model_key(Path(path)), _resolve_source(path, None)[0])
    return name


def second_scorer_name(name: str) -> str:
    """The scorer a model directory trained on second scorer ``name``'s features records (its file stem)."""
    return Path(SECOND_SCORERS[name][0]).stem


CANDIDATES = {name: candidate(name) for name in (
    *_SINGLES, "head:zeroshot", "head:zeroshot+dist", "head:zeroshot+dist+chat", "head:zeroshot+ref",
    "head:zeroshot+dist+ref", "mlp:zeroshot+dist+ref", "head:zeroshot+general+rarity",
    "head:zeroshot+dist+ref+general+rarity")}


class Bench:
    """Features of every set, computed once per family from the token cache.

    With second scorers registered (``use_second_scorer``), every set is cut to the rows every scorer has
    cached, so all candidates are measured on the same rows."""

    def __init__(self, sets: list[str], reference, contexts: tuple[str, ...] = ("raw",), base_rows: int = 0,
                 second_reference: str | None = None) -> None:
        self.reference = {"": reference}
        self.boundary = {"": sentence_ends(_tokenizer())}
        for scorer, (_, source) in SECOND_SCORERS.items():
            self.boundary[scorer] = sentence_ends(_tokenizer(source))
            self.reference[scorer] = build_reference(second_reference, source) if second_reference else None
        self.data = {}
        for name in sets:
            arrays, labels, texts = load(name, contexts)
            second = {scorer: load(name, ("raw",), key)[0] for scorer, (key, _) in SECOND_SCORERS.items()}
            n = min([len(texts), *(a.size for a in second.values())])
            if base_rows and name in BASE_SETS:
                n = min(n, base_rows)
            if n < len(texts):
                arrays, labels, texts = arrays.take(list(range(n))), labels[:n], texts[:n]
            if len(set(labels.tolist())) < (1 if name in HUMAN_ONLY else 2):
                print(f"{name}: not enough rows scored in contexts {contexts} yet; left out", flush=True)
                continue
            arrays_of = {"": arrays, **{k: a.take(list(range(n))) for k, a in second.items()}}
            self.data[name] = {"arrays": arrays, "arrays_of": arrays_of, "labels": labels,
                               "keys": np.array([t[:60] for t in texts])}
        self.sets = list(self.data)
        self._features: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def features(self, name: str, families: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = {}
        for family in families:
            if (name, family) not in self._features:
                scorer, base = split_scorer(family)
                arrays = self.data[name]["arrays_of"][scorer] if scorer else self.data[name]["arrays"]
                columns = compute_features(arrays, (base,), reference=self.reference[scorer],
                                           boundary=self.boundary[scorer])
                prefix = f"{scorer}." if scorer else ""
                self._features[name, family] = {prefix + k: v for k, v in columns.items()}
            out.update(self._features[name, family])
        return out

    def matrix(self, name: str, candidate: Candidate) -> np.ndarray:
        feats = self.features(name, candidate.families)
        names = candidate.only or [n for f in candidate.families for n in scorer_feature_names(f)]
        return np.column_stack([feats[n] for n in names])

    def single(self, name: str, candidate: Candidate) -> np.ndarray:
        scorer, feature = split_scorer(candidate.feature)
        family = next(f for f in FAMILIES if feature in feature_names((f,)))
        return candidate.sign * self.features(name, (f"{scorer}.{family}" if scorer else family,))[candidate.feature]


def scorer_feature_names(family: str) -> tuple[str, ...]:
    """Feature names of ``family`` (``NAME.family`` -> ``NAME.feature`` for a second scorer's)."""
    scorer, base = split_scorer(family)
    return tuple(f"{scorer}.{n}" if scorer else n for n in feature_names((base,)))


def _tokenizer(source: str | None = None):
    """The default scorer's tokenizer, or the one at ``source`` (a second scorer's model directory)."""
    from transformers import AutoTokenizer

    from detectors.lm import _resolve_source

    return AutoTokenizer.from_pretrained(source or _resolve_source(None, None)[0])


def train_and_threshold(bench: Bench, candidate: Candidate, train_sets: list[str], drop_keys: set[str],
                        fpr: float, extra: tuple[str, ...] = (), rule: str = "pooled"):
    """Fit on ``train_sets`` + the human-only ``extra`` sets (rows of articles in ``drop_keys`` removed);
    return (score function, threshold). The threshold is at ``fpr`` on the out-of-fold scores of the
    training human rows: pooled (``rule="pooled"``), the highest of the per-set thresholds ("worst-group") or
    of the per-domain thresholds ("worst-domain"). A fit is kept, so further rules on the same split are free."""
    key = (candidate.name, tuple(train_sets), hash(frozenset(drop_keys)), tuple(extra), fpr)
    if key not in _FITS:
        _FITS[key] = _fit(bench, candidate, train_sets, drop_keys, fpr, extra)
    score_fn, oof, y, groups = _FITS[key]
    if rule == "pooled":
        return score_fn, threshold_at_fpr(oof[y == 0], fpr)
    if rule == "worst-group":
        return score_fn, max(threshold_at_fpr(oof[(y == 0) & (groups == g)], fpr) for g in np.unique(groups[y == 0]))
    if rule == "worst-domain":  # the sets of one source (xsum = news, writing = stories) pooled, each extra alone
        names = [*train_sets, *extra]
        domain = np.array([_domain(names[g]) for g in groups])
        return score_fn, max(threshold_at_fpr(oof[(y == 0) & (domain == d)], fpr) for d in np.unique(domain[y == 0]))
    raise ValueError(rule)


_FITS: dict = {}


def _fit(bench: Bench, candidate: Candidate, train_sets: list[str], drop_keys: set[str], fpr: float,
         extra: tuple[str, ...]):
    """(score function, out-of-fold scores, labels, groups) of one training split."""
    xs, ys, gs = [], [], []
    for g, name in enumerate([*train_sets, *extra]):
        d = bench.data[name]
        keep = ~np.isin(d["keys"], list(drop_keys)) if drop_keys else np.ones(len(d["labels"]), bool)
        x = bench.single(name, candidate)[:, None] if candidate.feature else bench.matrix(name, candidate)
        ok = keep & np.isfinite(x).all(1)
        xs.append(x[ok])
        ys.append(d["labels"][ok])
        gs.append(np.full(ok.sum(), g))
    x, y, groups = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
    if candidate.feature:
        oof, score_fn = x[:, 0], (lambda name: bench.single(name, candidate))
    else:
        result = fit(x, y, groups=groups, hidden=candidate.hidden, target_fpr=fpr)
        head = result.head
        oof = result.oof_logits

        def score_fn(name: str) -> np.ndarray:
            return head_logits(head, np.nan_to_num(bench.matrix(name, candidate)))
    return score_fn, oof, y, groups


def _domain(name: str) -> str:
    return name if name in HUMAN_ONLY else name.split("_")[0]


def evaluate(score: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    ok = np.isfinite(score)
    score, labels = score[ok], labels[ok]
    human, machine = score[labels == 0], score[labels == 1]
    out = {"fpr": float(np.mean(human >= threshold)) if human.size else None}
    if machine.size and human.size:
        out["auroc"] = float(roc_auc_score(labels, score))
        out["tpr1"] = float(np.mean(machine >= threshold_at_fpr(human, 0.01)))
        out["tpr"] = float(np.mean(machine >= threshold))
    return out


def run(bench: Bench, candidate: Candidate, fpr: float, extra: tuple[str, ...] = (), rule: str = "pooled") -> dict:
    shared = [s for s in bench.sets if s not in (*HUMAN_ONLY, *extra)]
    domains = [s for s in bench.sets if s in HUMAN_ONLY and s not in (*EXTRA_HUMAN, *extra)]
    result = {"loso": {}, "cross": {}, "domains": {}}
    for test in shared:
        keys = set(bench.data[test]["keys"].tolist())
        score_fn, thr = train_and_threshold(bench, candidate, [s for s in shared if s != test], keys, fpr, extra, rule)
        result["loso"][test] = evaluate(score_fn(test), bench.data[test]["labels"], thr)
    for domain in ("xsum", "writing"):
        train = [s for s in shared if s.startswith(domain)]
        score_fn, thr = train_and_threshold(bench, candidate, train, set(), fpr, extra, rule)
        for test in shared:
            if not test.startswith(domain):
                result["cross"][test] = evaluate(score_fn(test), bench.data[test]["labels"], thr)
    score_fn, thr = train_and_threshold(bench, candidate, shared, set(), fpr, extra, rule)
    for test in domains:
        result["domains"][test] = evaluate(score_fn(test), bench.data[test]["labels"], thr)
    return result


def summary_row(name: str, r: dict) -> str:
    loso = r["loso"]

    def mean(sets, key, where="loso"):
        values = [r[where][s][key] for s in sets if s in r[where] and r[where][s].get(key) is not None]
        return f"{np.mean(values):.3f}" if values else "-"

    gpt_min = min((loso[s]["auroc"] for s in GPT_SETS if s in loso), default=float("nan"))
    tpr1 = "/".join(f"{loso[s]['tpr1']:.2f}" for s in GPT_SETS if s in loso)
    base = "/".join(f"{loso[s]['auroc']:.3f}" for s in BASE_SETS if s in loso)
    fprs = [loso[s]["fpr"] for s in loso] + [r["domains"][s]["fpr"] for s in r["domains"]]
    dom = "/".join(f"{r['domains'][s]['fpr']:.3f}" for s in r["domains"])
    shared = list(loso)
    return (f"| {name} | {mean(GPT_SETS, 'auroc')} | {gpt_min:.3f} | {tpr1} | {base or '-'} | "
            f"{mean(shared, 'auroc')} | {mean(GPT_SETS, 'auroc', 'cross')} | {mean(BASE_SETS, 'auroc', 'cross')} | "
            f"{mean(shared, 'auroc', 'cross')} | {mean(shared, 'tpr')} | "
            f"{max(loso[s]['fpr'] for s in loso):.3f} | {dom or '-'} | {max(fprs):.3f} |")


HEADER = ("| detector | GPT sets mean AUROC (LOSO) | GPT min | TPR@1%FPR per GPT set (w3.5/w4/x3.5/x4) | "
          "base sets AUROC (neo/gpt2-xl/opt) | all sets mean (LOSO) | cross-domain GPT mean | cross-domain base mean | "
          "cross-domain all | TPR at shipped thr (mean, LOSO) | max FPR, held-out shared set | "
          "FPR human domains (wikitext/python docs[/manpages]) | worst FPR |\n" + "|---" * 13 + "|")


def domain_table(bench: Bench, candidate: Candidate, fpr: float, extra: tuple[str, ...] = (), repeats: int = 20,
                 size: int = 300) -> str:
    """How often :func:`detectors.domain.domain_check` says "outside the calibration's domain".

    The detector (trained on all shared sets for a learned candidate) scores everything; each repeat
    splits every shared set's rows at random into a reference half and a corpus half. In-domain corpora mix
    corpus-half human and machine rows of the reference's own sets at 0-50 % machine (false alarms);
    shifted corpora are a human domain the reference never saw (WikiText-2, Python docs), alone or with
    30 % shared-set machine rows, and stories scored against a news-only reference (the risk cross-domain case).
    """
    from detectors.domain import domain_check

    shared = [s for s in bench.sets if s not in (*HUMAN_ONLY, *extra)]
    score_fn, _ = train_and_threshold(bench, candidate, shared, set(), fpr, extra)
    scores = {name: score_fn(name) for name in bench.sets}
    rng = np.random.default_rng(0)
    cases: dict[str, list[bool]] = {}
    for _ in range(repeats):
        ref_h, ref_m, pool = {}, {}, {}
        for name in shared:
            labels = bench.data[name]["labels"]
            order = rng.permutation(len(labels))
            half = order[: len(order) // 2]
            ref = np.zeros(len(labels), bool)
            ref[half] = True
            ref_h[name], ref_m[name] = scores[name][ref & (labels == 0)], scores[name][ref & (labels == 1)]
            pool[name] = (scores[name][~ref & (labels == 0)], scores[name][~ref & (labels == 1)])
        human = np.concatenate(list(ref_h.values()))
        machine = np.concatenate(list(ref_m.values()))
        pool_h = np.concatenate([h for h, _ in pool.values()])
        pool_m = np.concatenate([m for _, m in pool.values()])

        def check(corpus, h=human, m=machine):
            return domain_check(corpus, h, m, seed=int(rng.integers(1 << 30)), resamples=100).outside

        for share in (0.0, 0.1, 0.3, 0.5):
            k = round(share * size)
            corpus = np.concatenate([rng.choice(pool_m, k, replace=False), rng.choice(pool_h, size - k, replace=False)])
            cases.setdefault(f"in domain, {share:.0%} machine", []).append(check(corpus))
        for domain in [s for s in bench.sets if s in HUMAN_DOMAINS and s not in extra]:
            own = scores[domain][np.isfinite(scores[domain])]
            corpus = rng.choice(own, min(size, len(own)), replace=False)
            cases.setdefault(f"{domain}, human only", []).append(check(corpus))
            k = round(0.3 * len(corpus))
            mixed = np.concatenate([corpus[: len(corpus) - k], rng.choice(pool_m, k, replace=False)])
            cases.setdefault(f"{domain}, 30 % machine (shared sets)", []).append(check(mixed))
        news_h = np.concatenate([ref_h[n] for n in shared if n.startswith("xsum")])
        news_m = np.concatenate([ref_m[n] for n in shared if n.startswith("xsum")])
        story_h = np.concatenate([pool[n][0] for n in shared if n.startswith("writing")])
        story_m = np.concatenate([pool[n][1] for n in shared if n.startswith("writing")])
        n_story = min(size, len(story_h))  # the writing sets' corpus halves hold ~200 human rows
        for share in (0.0, 0.3):
            k = round(share * n_story)
            corpus = np.concatenate([rng.choice(story_m, k, replace=False), rng.choice(story_h, n_story - k,
                                                                                      replace=False)])
            cases.setdefault(f"stories vs news-only reference, {share:.0%} machine", []).append(
                check(corpus, news_h, news_m))
    lines = [f"| corpus (<= {size} docs, {repeats} repeats) | flagged outside the domain |", "|---|---|"]
    lines += [f"| {name} | {np.mean(flags):.0%} |" for name, flags in cases.items()]
    return "\n".join(lines)


def shipped_likelihood_fpr(bench: Bench) -> str:
    """The shipped default's false-positive rate (likelihood at detectors/calibrations' threshold) per set."""
    from detectors.calibration import default_calibration

    threshold = default_calibration().threshold
    fprs = []
    for name in bench.sets:
        score = bench.single(name, candidate("likelihood"))
        human = score[(bench.data[name]["labels"] == 0) & np.isfinite(score)]
        fprs.append(f"{name} {np.mean(human >= threshold):.3f} (n={human.size})")
    return f"shipped likelihood threshold {threshold:.4f}, FPR on human rows: " + ", ".join(fprs)


def bench_contexts(bench: Bench) -> str:
    return ",".join(sorted({k.split("_")[0] for d in bench.data.values() for k in d["arrays"].fields
                            if k.split("_")[0] in ("raw", "chat")}))


REFERENCES = ("wikitext-valid", "wikitext-valid+packages", "wikitext-valid+packages+docstrings", "packages",
              "packages+docstrings")


def build_reference(source: str, tokenizer_source: str | None = None):
    """A trigram model of human text never scored here: the first half of WikiText-2 *valid*, and/or the
    "reference" half of the installed packages' READMEs (hygiene.package_text; package_docs is the other half),
    in the default scorer's tokens or those of the tokenizer at ``tokenizer_source``."""
    from detect_corpora import detokenize, package_docstrings, wikitext_lines

    from detectors.ngram import NgramModel
    from detectors.wordfreq_ref import general_token_logprobs
    from hygiene.package_text import package_documents

    if source not in REFERENCES:
        raise ValueError(source)
    tok = _tokenizer(tokenizer_source)
    docs, parts = [], []
    if source.startswith("wikitext-valid"):
        lines = [detokenize(line).replace("<unk>", "").strip() for line in wikitext_lines("valid", "first")]
        docs += [line for line in lines if line and not line.startswith("=")]
        parts.append("first half of wikitext-2 valid.txt, detokenized")
    if "packages" in source:
        packages = package_documents("reference")
        docs += [doc["text"] for doc in packages]
        parts.append(f"{len(packages)} README documents of {len({d['package'] for d in packages})} installed packages")
    if source.endswith("docstrings"):
        strings = package_docstrings(split="reference")
        docs += strings
        parts.append(f"{len(strings)} docstring documents of the same packages")
    ids = tok(docs, add_special_tokens=False)["input_ids"]
    model = NgramModel.fit(ids, len(tok), {"source": " + ".join(parts)})
    return model.with_general(general_token_logprobs(tok, model.unigram))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES),
                        help="single features or heads (head:FAM+FAM..., mlp:FAM+FAM...; families of "
                             "detectors.features); default: a representative list")
    parser.add_argument("--sets", nargs="*", default=None)
    parser.add_argument("--fpr", type=float, default=0.05)
    parser.add_argument("--max-tokens", type=int, default=None, help="score only the first N tokens (cache head)")
    parser.add_argument("--extra", nargs="*", default=[], help="human-only sets added to every training set "
                        "(e.g. wikitext2_valid); they are then not evaluated")
    parser.add_argument("--rule", nargs="+", choices=["pooled", "worst-group", "worst-domain"], default=["pooled"],
                        help="threshold rules on the training human rows' out-of-fold scores, each measured (one "
                             "fit): pooled (default), the highest per-set threshold, or the highest per-domain "
                             "threshold (news, stories, each --extra domain)")
    parser.add_argument("--reference", choices=REFERENCES, default="wikitext-valid",
                        help="human text of the ref family's trigram model (default wikitext-valid)")
    parser.add_argument("--base-rows", type=int, default=0,
                        help="first N rows of each base-model set at most (0 = every cached row; default 0)")
    parser.add_argument("--json", type=Path, default=None, help="write every per-set figure here")
    parser.add_argument("--confirm", action="store_true",
                        help=f"also measure FPR on the confirmation human domain(s) {', '.join(CONFIRM_HUMAN)}")
    parser.add_argument("--domain-check", nargs="*", default=[], metavar="CANDIDATE",
                        help="also measure detectors.domain.domain_check with these candidates' scores")
    parser.add_argument("--second", action="append", default=[], metavar="NAME=PATH",
                        help="a second scorer whose arrays token_cache.py --model PATH cached; its families and "
                             "features are then candidates as NAME.family / NAME.feature (rows: those both cached)")
    args = parser.parse_args(argv)
    for spec in args.second:
        use_second_scorer(spec)
    sets = [*(args.sets or [*detect_sets(), *HUMAN_DOMAINS]), *(e for e in args.extra if e not in (args.sets or [])),
            *(CONFIRM_HUMAN if args.confirm else ())]
    start = time.perf_counter()
    reference = build_reference(args.reference)
    chosen = [candidate(name) for name in [*args.candidates, *args.domain_check]]
    families = {split_scorer(f)[1] for c in chosen for f in c.families if not split_scorer(f)[0]} | {
        f for c in chosen if c.feature and not split_scorer(c.feature)[0] for f in FAMILIES if c.feature in FAMILIES[f]}
    bench = Bench(sets, reference, families_contexts(sorted(families)) or ("raw",), args.base_rows, args.reference)
    if args.max_tokens:
        for d in bench.data.values():
            d["arrays"] = d["arrays"].head(args.max_tokens)
            d["arrays_of"] = {k: a.head(args.max_tokens) for k, a in d["arrays_of"].items()}  # every scorer's
    rows = ", ".join(f"{name} {len(d['labels'])}" for name, d in bench.data.items())
    print(f"reference: {reference.meta}; contexts {bench_contexts(bench)}; rows: {rows}; "
          f"setup {time.perf_counter() - start:.0f} s\n")
    print(shipped_likelihood_fpr(bench) + "\n")
    print(HEADER)
    results = {}
    for name in args.candidates:
        for rule in args.rule:
            label = name if len(args.rule) == 1 else f"{name} ({rule})"
            results[label] = r = run(bench, candidate(name), args.fpr, tuple(args.extra), rule)
            print(summary_row(label, r), flush=True)
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "results": results}, indent=1))
    for name in args.domain_check:
        print(f"\n### domain check, {name} scores\n")
        print(domain_table(bench, candidate(name), args.fpr, tuple(args.extra)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
