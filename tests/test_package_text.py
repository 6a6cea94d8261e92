"""hygiene.package_text: the installed packages' READMEs as human technical prose (the ref family's reference
and a training domain), and `train-detector --reference site-packages` reading them."""

from __future__ import annotations

import json
import re

import pytest
from detector_support import hygiene, needs_model, tiny_training_rows, write_jsonl

from hygiene.package_text import SPLITS, docstring_documents, package_documents, prose_paragraphs

README_MD = """# fastthing

[![PyPI](https://img.shields.io/pypi/v/fastthing.svg)](https://pypi.org/project/fastthing)

Fastthing reads **large** files in small pieces, so a program that would run out of memory on a
laptop keeps working. See the [user guide](https://example.org/guide) for the details of `open_stream`.

```python
import fastthing
fastthing.open_stream("big.bin")  # this is code and must go
```

| option | meaning |
|---|---|
| fast | a table row that must go as well because it is not prose at all |

- a list item with more than twelve words in it is a fragment and not running prose
- another

Short line.
"""

README_RST = """slowthing
=========

The slowthing library keeps a *careful* record of every change you make, so that any step can be
undone later; read the `tutorial <https://example.org/t>`_ and :func:`record` first, then undo_.

Install it with pip, the package installer that comes with every Python, as shown below::

    pip install slowthing and this indented literal block is code, not prose to keep

.. note:: a directive is markup, not prose, even when it is a long sentence like this one.
"""


def test_markdown_markup_is_stripped_to_prose():
    paragraphs = prose_paragraphs(README_MD)
    assert paragraphs == ["Fastthing reads large files in small pieces, so a program that would run out of memory on "
                          "a laptop keeps working. See the user guide for the details of open_stream."]


def test_rst_markup_is_stripped_to_prose():
    paragraphs = prose_paragraphs(README_RST)
    assert paragraphs == ["The slowthing library keeps a careful record of every change you make, so that any step "
                          "can be undone later; read the tutorial and record first, then undo.",
                          "Install it with pip, the package installer that comes with every Python, as shown below:"]


def test_installed_packages_give_two_disjoint_deterministic_halves():
    everything = package_documents()
    halves = {split: package_documents(split) for split in SPLITS}
    assert len(everything) >= 50  # this environment's ~100 distributions give hundreds of documents
    assert {d["package"] for d in halves["reference"]}.isdisjoint({d["package"] for d in halves["train"]})
    assert len(halves["reference"]) + len(halves["train"]) >= len(everything) // 2
    assert package_documents("train") == halves["train"]
    assert all(40 <= len(d["text"].split()) <= 200 for d in everything)
    assert "corpus-hygiene" not in {d["package"] for d in everything}  # the project's own README is not used
    texts = [d["text"] for d in everything]
    assert not any("```" in t or "](http" in t or re.search(r"::(\s|$)", t) for t in texts)


def test_split_must_be_known():
    with pytest.raises(ValueError, match="split"):
        package_documents("test")


def test_cli_reference_word_reads_the_installed_packages(tmp_path):
    from hygiene_cli.detectors import SITE_PACKAGES, _read_reference

    own = tmp_path / "mine.txt"
    own.write_text("one document of my own domain\n\nanother one\n", encoding="utf-8")
    docs = _read_reference([SITE_PACKAGES, str(own)], "text")
    assert docs[-2:] == ["one document of my own domain", "another one"]
    assert docs[:-2] == [d["text"] for d in (*package_documents(), *docstring_documents())]


@pytest.mark.slow  # one CLI process with the scorer LM: ~1 min on the shared 2-core machine
@needs_model
def test_train_detector_with_the_site_packages_reference(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", tiny_training_rows())
    model = tmp_path / "model"
    run = hygiene("train-detector", train, "--out", model, "--features", "zeroshot,ref", "--reference",
                  "site-packages", "--max-tokens", "32", "--hidden", "0", "--fpr", "0.1", "--quiet")
    assert run.returncode == 0, run.stderr
    meta = json.loads((model / "detector.json").read_text())
    assert meta["training"]["reference"]["source"] == "site-packages"
    from detectors.ngram import NgramModel

    reference = NgramModel.load(model / "reference.npz")
    assert int(reference.meta["documents"]) == len(package_documents()) + len(docstring_documents())


def test_docstrings_are_prose_of_third_party_source_only():
    docs = docstring_documents()
    packages = {d["package"] for d in docs}
    assert len(docs) >= 50 and len(packages) >= 10
    assert packages.isdisjoint({"setuptools", "pip", "typing-extensions", "corpus-hygiene"})  # stdlib copies, us
    assert all(40 <= len(d["text"].split()) <= 200 for d in docs)
    per_package = {p: sum(d["package"] == p for d in docs) for p in packages}
    assert max(per_package.values()) <= 15
    assert {d["package"] for d in docstring_documents("train")}.isdisjoint(
        {d["package"] for d in docstring_documents("reference")})
