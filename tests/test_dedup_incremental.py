"""Incremental dedup through the CLI: cleaning shard B after shard A with a kept index decides as A+B together."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene_cli.main import main
from tests.dedup_support import near_duplicate_texts, redis_server


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Shards a (first half) and b (second half) of originals, edited and exact copies, so b holds copies of a's
    documents and of its own."""
    folder = tmp_path_factory.mktemp("incremental")
    texts = near_duplicate_texts(240, seed=11)
    half = len(texts) // 2
    for name, part, offset in (("a", texts[:half], 0), ("b", texts[half:], half)):
        (folder / name).mkdir()
        ids = [f"{name}{offset + i}" for i in range(len(part))]
        pq.write_table(pa.table({"id": ids, "text": part}), folder / name / f"{name}.parquet")
    return folder


def decisions(out: Path) -> dict[str, str | None]:
    """id -> removal reason (None: kept)."""
    found: dict[str, str | None] = {}
    for path in sorted((out / "kept").glob("*.parquet")):
        found.update(dict.fromkeys(pq.read_table(path, columns=["id"]).column("id").to_pylist()))
    for path in sorted((out / "removed").glob("*.parquet")):
        t = pq.read_table(path, columns=["id", "hygiene_reason"]).to_pydict()
        found.update(zip(t["id"], t["hygiene_reason"]))
    return found


def clean(out: Path, *args: str) -> dict:
    assert main(["clean", *args, "--out", str(out), "--detector", "none", "--quiet"]) == 0
    return json.loads((out / "manifest.json").read_text())


def check_incremental(corpus: Path, tmp: Path, index: str) -> None:
    together = decisions(tmp / "together") if (tmp / "together").exists() else None
    if together is None:
        clean(tmp / "together", str(corpus / "a" / "a.parquet"), str(corpus / "b" / "b.parquet"))
        together = decisions(tmp / "together")
    first = clean(tmp / "a", str(corpus / "a"), "--dedup-index", index)
    second = clean(tmp / "b", str(corpus / "b"), "--dedup-index", index)
    assert first["near_dedup"]["index"]["first_row"] == 0
    assert second["near_dedup"]["index"]["first_row"] == first["counts"]["rows"]
    incremental = {**decisions(tmp / "a"), **decisions(tmp / "b")}
    assert incremental == together
    b_ids = decisions(tmp / "b")
    reasons = {r for r in b_ids.values() if r}
    assert reasons == {"near_duplicate", "exact_duplicate"}
    # B alone, without the index, would keep some of what the index removes (its copies of A's documents).
    alone = clean(tmp / "b-alone", str(corpus / "b"))
    assert second["counts"]["removed"] > alone["counts"]["removed"]


def test_sqlite_index_b_after_a_equals_a_and_b_together(corpus, tmp_path):
    check_incremental(corpus, tmp_path, str(tmp_path / "index.sqlite"))
    # `score` checks against the index but adds nothing; a clean into a new directory sees B's rows as seen.
    assert main(["score", str(corpus / "b"), "--out", str(tmp_path / "s"), "--detector", "none", "--quiet",
                 "--dedup-index", str(tmp_path / "index.sqlite")]) == 0
    again = clean(tmp_path / "b-again", str(corpus / "b"), "--dedup-index", str(tmp_path / "index.sqlite"))
    assert again["near_dedup"]["index"]["first_row"] == sum(json.loads((tmp_path / d / "manifest.json").read_text())
                                                            ["counts"]["rows"] for d in ("a", "b"))
    assert again["counts"]["kept"] == 0  # every document of B is in the index now


def test_redis_index_b_after_a_equals_a_and_b_together(corpus, tmp_path):
    with redis_server(tmp_path) as url:
        check_incremental(corpus, tmp_path, url)


def test_the_manifest_does_not_record_the_redis_password(corpus, tmp_path):
    with redis_server(tmp_path, password="s3cret-pw") as url:
        manifest = clean(tmp_path / "a", str(corpus / "a"), "--dedup-index", url)
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert manifest["config"]["dedup"]["index"] == f"redis://***@127.0.0.1:{port}/0"
    assert manifest["counts"]["removed"] > 0  # the index was reached with the password
    leaked = [p.name for p in (tmp_path / "a").rglob("*") if p.is_file() and b"s3cret-pw" in p.read_bytes()]
    assert leaked == []


def test_resumed_run_does_not_add_twice(corpus, tmp_path):
    """A run whose documents are in the index (an earlier attempt committed) reloads its decisions."""
    index = str(tmp_path / "index.sqlite")
    out = tmp_path / "b"
    first = clean(out, str(corpus / "b"), "--dedup-index", index, "--keep-work")  # .work/ kept: "crash" below
    before = decisions(out)
    (out / "manifest.json").unlink()  # as if it crashed after routing, before the manifest
    for marker in (out / ".work" / "routed").glob("*"):
        marker.unlink()
    second = clean(out, str(corpus / "b"), "--dedup-index", index)
    assert second["resumed"] and decisions(out) == before
    assert second["near_dedup"]["index"]["documents"] == first["counts"]["rows"]


def test_index_needs_near_dedup(corpus, tmp_path, capsys):
    code = main(["clean", str(corpus / "a"), "--out", str(tmp_path / "x"), "--detector", "none", "--quiet",
                 "--no-near-dedup", "--dedup-index", str(tmp_path / "i.sqlite")])
    assert code == 1 and "needs near dedup" in capsys.readouterr().err


def test_service_takes_hygiene_redis_url_as_every_jobs_index(tmp_path):
    from service.settings import load_settings

    url = "redis://127.0.0.1:6390/2"
    assert load_settings(env={}).job.dedup.index is None
    assert load_settings(env={"HYGIENE_REDIS_URL": url}).job.dedup.index == url
    config = tmp_path / "service.toml"
    config.write_text('[dedup]\nindex = "jobs.sqlite"\n')
    assert load_settings(config, env={}).job.dedup.index == "jobs.sqlite"
    assert load_settings(config, env={"HYGIENE_REDIS_URL": url}).job.dedup.index == url  # file < environment
    assert load_settings(env={"HYGIENE_REDIS_URL": url}, job={"dedup.index": "x.sqlite"}).job.dedup.index == "x.sqlite"
    engine = load_settings(env={"HYGIENE_ENGINE": "ray", "HYGIENE_RAY_ADDRESS": "auto"}).job
    assert (engine.engine, engine.ray_address) == ("ray", "auto")
