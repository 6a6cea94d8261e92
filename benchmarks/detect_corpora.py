"""The labelled sets the accuracy benchmarks read: the shared detect sets and two human-only domains.

- ``../shared/data/detect/*.jsonl``: seven sets (news = xsum, stories = writing), human and machine rows;
- ``wikitext2_test``: paragraphs of ``../shared/data/text/wikitext-2/test.txt`` (human, encyclopedia);
  WikiText's tokenisation is undone (" @-@ " -> "-", " , " -> ", " ...), headings dropped; a document is a
  run of consecutive sentences of one paragraph without ``<unk>`` (>= 40 words, cut at 200): 346 of them;
- ``python_docs``: every distinct document the demo builds from this Python's own documentation
  (:func:`hygiene.demo.human_documents`, human, technical prose).

- ``manpages``: prose documents of this machine's English manual pages (``/usr/share/man/man1``-``man8``,
  rendered with ``man``; a seeded sample of pages, at most three documents a page: 300 documents): a human
  technical domain added *after* the heads of table J were chosen, to confirm them on text no choice saw;
- ``gnu_info``: prose documents of this machine's GNU Texinfo manuals (``/usr/share/info``; at most 15 a manual,
  seeded; licence nodes and notices, indexes and documents sharing a word 8-gram with ``manpages`` or
  ``python_docs`` left out): the second confirmation domain,
  added after the chat-text opt-in was fitted (table M);
- ``perl_pod``: prose documents of the POD documentation of this machine's Perl core library (the third);
- ``vim_help``: prose documents of this machine's Vim help files (``/usr/share/vim/vim*/doc``; at most four a file,
  seeded; examples dropped, tags unwrapped): the fourth, added after the two-expert detectors were measured on
  the other four.

``wikitext2_valid``: the same construction over the second half of ``valid.txt`` (300 documents): a
human-only *training* domain, never a test set. The first half of ``valid.txt`` is the text the ``ref``
family's n-gram reference is counted on (benchmarks/detect_features.py), so the two never share an article.
``package_docs``: prose documents of the READMEs (METADATA long descriptions) of the "train" half of this
environment's installed packages (:mod:`hygiene.package_text`): a technical human-only *training* domain; the
"reference" half can feed the n-gram reference (``--reference wikitext-valid+packages``).
``package_docstrings``: 200 documents of the docstrings in the "train" half's source (the same halves), none
sharing a passage with ``python_docs``; the other half's docstrings can feed the reference too
(``--reference wikitext-valid+packages+docstrings``).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DETECT_DIR = SHARED / "detect"
WIKITEXT_DIR = SHARED / "text" / "wikitext-2"
HUMAN_DOMAINS = ("wikitext2_test", "python_docs")
# A human test domain measured only after the choice it confirms (benchmarks/RESULTS.md, issue 15, table J).
CONFIRM_HUMAN = ("manpages", "gnu_info", "perl_pod", "vim_help")
# Its two halves (150 documents each, in page order: different pages but for at most one), for training on one
# and testing on the other after the confirmation (RESULTS.md, issue 15, table L).
MANPAGE_HALVES = ("manpages_a", "manpages_b")
MAN_DIR = Path("/usr/share/man")
INFO_DIR = Path("/usr/share/info")
PERL_DIRS = (Path("/usr/share/perl/5.36.0"), Path("/usr/lib/x86_64-linux-gnu/perl/5.36.0"))
VIM_DOC_DIRS = tuple(sorted(Path("/usr/share/vim").glob("vim*/doc")))
# Human-only training domains, never test sets: the second half of WikiText-2 valid.txt, and the "train" half
# of the installed packages' READMEs (hygiene.package_text; technical prose that is not Python's documentation).
EXTRA_HUMAN = ("wikitext2_valid", "package_docs", "package_docstrings")

_DETOKENIZE = [(" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" , ", ", "), (" . ", ". "), (" ; ", "; "),
               (" : ", ": "), (" 's ", "'s "), (" n't ", "n't "), ("( ", "("), (" )", ")")]


def detokenize(line: str) -> str:
    text = line.strip()
    for old, new in _DETOKENIZE:
        text = text.replace(old, new)
    text = re.sub(r" ([.,;:!?])$", r"\1", text)
    return re.sub(r'" ([^"]*?) "', r'"\1"', text)


def wikitext_lines(split: str, half: str | None = None) -> list[str]:
    """The lines of a WikiText-2 split; ``half`` "first" / "second" keeps the lines before / from its middle
    (different articles: the valid split's halves feed the n-gram reference and the extra human domain)."""
    lines = (WIKITEXT_DIR / f"{split}.txt").read_text(encoding="utf-8").splitlines()
    middle = len(lines) // 2
    return {None: lines, "first": lines[:middle], "second": lines[middle:]}[half]


def wikitext_documents(split: str = "test", n: int = 500, seed: int = 0, half: str | None = None) -> list[str]:
    """Runs of consecutive ``<unk>``-free sentences of one paragraph, >= 40 words, cut at 200 words."""
    docs = []
    for line in wikitext_lines(split, half):
        line = line.strip()
        if not line or line.startswith("="):
            continue
        run: list[str] = []
        for sentence in [*re.split(r"(?<= \.) ", line), "<unk>"]:
            if "<unk>" not in sentence:
                run.append(sentence)
                continue
            words = detokenize(" ".join(run)).split()
            if len(words) >= 40:
                docs.append(" ".join(words[:200]))
            run = []
    return random.Random(seed).sample(docs, min(n, len(docs)))


def python_docs_documents() -> list[str]:
    from hygiene.demo import human_documents

    for n in range(400, 0, -1):  # every distinct document this Python has (364 on 3.13)
        try:
            return [doc["text"] for doc in human_documents(n, seed=0)]
        except ValueError:
            continue
    return []


def package_docstrings(n: int = 200, split: str = "train") -> list[str]:
    """``n`` documents (seeded sample) of the installed packages' docstrings, minus any document sharing a word
    8-gram with this Python's documentation (``python_docs``, the unseen test domain: no passage of it may leak
    into training through a package that quotes the standard library)."""
    from hygiene.package_text import docstring_documents, word_ngrams

    test = set().union(*map(word_ngrams, python_docs_documents()))
    docs = [d["text"] for d in docstring_documents(split)]
    clean = [t for t in docs if word_ngrams(t).isdisjoint(test)]
    if len(clean) < len(docs):
        print(f"package_docstrings ({split}): {len(docs) - len(clean)} of {len(docs)} documents share a passage "
              "with python_docs; dropped", flush=True)
    return clean if split != "train" else random.Random(0).sample(clean, min(n, len(clean)))


def manpage_documents(n: int = 300, seed: int = 0, per_page: int = 3) -> list[str]:
    """Prose documents (40-200 words) of a seeded sample of this machine's English manual pages, rendered by
    ``man`` one long line per paragraph; the paragraph filter and packing are the package READMEs' own."""
    from hygiene.package_text import distinct_documents, pack_documents, prose_paragraphs

    pages = sorted(p for section in range(1, 9) for p in (MAN_DIR / f"man{section}").glob("*.gz"))
    random.Random(seed).shuffle(pages)
    env = {**os.environ, "MANWIDTH": "4000", "MAN_KEEP_FORMATTING": "0"}
    docs: list[dict[str, str]] = []
    for page in pages:
        if len(docs) >= n:
            break
        rendered = subprocess.run(["man", "-l", "-E", "utf-8", str(page)], capture_output=True, text=True, env=env,
                                  timeout=30).stdout
        plain = re.sub(r".\x08", "", rendered)  # overstrike bold / underline
        lines = ["" if line.strip().isupper() else line.strip()  # section headings: DESCRIPTION, OPTIONS, ...
                 for line in plain.splitlines()[1:-1]]  # less the page's header and footer lines
        paragraphs = prose_paragraphs("\n".join(lines))
        page_docs = distinct_documents([*docs, *({"text": t} for t in pack_documents(paragraphs))])[len(docs):]
        docs += page_docs[:per_page]
    return [d["text"] for d in docs[:n]]


def info_documents(n: int = 300, seed: int = 0, per_manual: int = 15) -> list[str]:
    """Prose documents (40-200 words) of this machine's GNU info manuals: the packages' prose filter over the
    text with node headers, menus and underlines removed; a seeded sample of at most ``per_manual`` a manual."""
    import gzip

    from hygiene.package_text import distinct_documents, pack_documents, prose_paragraphs, word_ngrams

    manuals: dict[str, list[str]] = {}
    for path in sorted(INFO_DIR.glob("*.info*.gz")):
        manual = path.name.split(".info")[0]
        text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        for node in text.split("\x1f"):  # a node: its "File: ..., Node: NAME, ..." line, then its text
            header, _, body = node.lstrip("\n").partition("\n")
            if re.search(r"Node: [^,]*(Licen[cs]e|Copying|Index|GNU (FDL|GPL|LGPL))", header):
                continue  # the GFDL appendix every manual carries, copying conditions, indexes
            lines = ["" if line.startswith(("* ", "Tag Table", "End Tag Table")) or set(line.strip()) <= set("*=-.")
                     else line.strip() for line in body.splitlines()]
            manuals.setdefault(manual, []).extend(pack_documents(prose_paragraphs("\n".join(lines))))
    rng = random.Random(seed)
    picked = [{"text": t} for name in sorted(manuals)
              for t in rng.sample(manuals[name], min(per_manual, len(manuals[name])))]
    seen = set().union(*map(word_ngrams, [*manpage_documents(), *python_docs_documents()]))
    clean = [d for d in distinct_documents(picked) if "Free Documentation License" not in d["text"]  # notices
             and word_ngrams(d["text"]).isdisjoint(seen)]
    return [d["text"] for d in rng.sample(clean, min(n, len(clean)))]


def perl_pod_documents(n: int = 300, seed: int = 0, per_file: int = 3) -> list[str]:
    """Prose documents (40-200 words) of the POD documentation of this machine's Perl core library, rendered by
    ``pod2text`` (prose indented 4, code 8 or more: code and headings dropped), licence paragraphs left out,
    documents sharing a word 8-gram with the other technical human domains dropped; at most ``per_file`` a
    module, a seeded sample."""
    from hygiene.package_text import distinct_documents, pack_documents, prose_paragraphs, word_ngrams

    files = sorted(p for d in PERL_DIRS if d.is_dir() for p in d.rglob("*") if p.suffix in (".pm", ".pod"))
    rng = random.Random(seed)
    picked: list[dict[str, str]] = []
    for path in files:
        rendered = subprocess.run(["pod2text", "--utf8", "-w", "4000", str(path)], capture_output=True,
                                  encoding="utf-8", errors="replace", timeout=30).stdout
        lines = [line.strip() if line.startswith("    ") and not line.startswith("        ") else ""
                 for line in rendered.splitlines()]
        paragraphs = [p for p in prose_paragraphs("\n".join(lines))
                      if not re.search(r"(?i)copyright|licen[cs]e|same terms as perl|warranty", p)]
        docs = pack_documents(paragraphs)
        picked += [{"text": t} for t in rng.sample(docs, min(per_file, len(docs)))]
    seen = set().union(*map(word_ngrams, [*manpage_documents(), *info_documents(), *python_docs_documents()]))
    clean = [d for d in distinct_documents(picked) if word_ngrams(d["text"]).isdisjoint(seen)]
    return [d["text"] for d in rng.sample(clean, min(n, len(clean)))]


def vim_help_documents(n: int = 300, seed: int = 0, per_file: int = 4) -> list[str]:
    """Prose documents (40-200 words) of this machine's Vim help files: tag anchors and links unwrapped, examples
    (indented lines) and rules dropped, then the packages' prose filter; documents sharing a word 8-gram with the
    other technical human domains dropped; at most ``per_file`` a help file, a seeded sample."""
    from hygiene.package_text import distinct_documents, pack_documents, prose_paragraphs, word_ngrams

    files = sorted(p for d in VIM_DOC_DIRS for p in d.glob("*.txt"))
    rng = random.Random(seed)
    picked: list[dict[str, str]] = []
    for path in files:
        lines = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:  # less the "*x.txt*" line
            if line.startswith((" ", "\t")) or set(line.strip()) <= set("=-"):
                lines.append("")  # examples, centred titles, section rules
                continue
            line = re.sub(r"\*[^*\s]+\*", "", line)  # tag anchors: *vimrc-intro*
            line = re.sub(r"\|([^|\s]+)\|", r"\1", line)  # links: |vimrc| -> vimrc
            lines.append(re.sub(r"\s+[>~]$", "", line.rstrip()))  # "... this way: >" opens an example; "~" a heading
        docs = pack_documents(prose_paragraphs("\n".join(lines)))
        picked += [{"text": t} for t in rng.sample(docs, min(per_file, len(docs)))]
    seen = set().union(*map(word_ngrams, [*manpage_documents(), *info_documents(), *perl_pod_documents(),
                                          *python_docs_documents()]))
    clean = [d for d in distinct_documents(picked) if word_ngrams(d["text"]).isdisjoint(seen)]
    return [d["text"] for d in rng.sample(clean, min(n, len(clean)))]


def detect_sets() -> list[str]:
    return sorted(p.stem for p in DETECT_DIR.glob("*.jsonl"))


def load_set(name: str) -> tuple[list[str], np.ndarray]:
    """(texts, labels: 0 human, 1 machine) of one set by name."""
    if name == "wikitext2_test":
        texts = wikitext_documents()
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "wikitext2_valid":
        texts = wikitext_documents("valid", n=300, half="second")
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "package_docs":
        from hygiene.package_text import package_documents

        texts = [doc["text"] for doc in package_documents("train")]
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "package_docstrings":
        texts = package_docstrings()
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name in ("manpages", "manpages_a", "manpages_b"):  # _a / _b: the first / second 150 (other pages)
        texts = manpage_documents()
        texts = {"manpages": texts, "manpages_a": texts[:150], "manpages_b": texts[150:]}[name]
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "gnu_info":
        texts = info_documents()
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "perl_pod":
        texts = perl_pod_documents()
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "vim_help":
        texts = vim_help_documents()
        return texts, np.zeros(len(texts), dtype=np.int64)
    if name == "python_docs":
        texts = python_docs_documents()
        return texts, np.zeros(len(texts), dtype=np.int64)
    with (DETECT_DIR / f"{name}.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows], dtype=np.int64)
