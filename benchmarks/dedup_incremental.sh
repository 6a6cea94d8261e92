#!/bin/bash
# Incremental dedup through the CLI at 100k: shards 0-3 then 4-7 with one index, vs all 8 at once.
cd "$(dirname "$0")/.."  # run after: python benchmarks/dedup_e2e.py --docs 100000 --shards 8 --out .cache/e2e
export PYTHONPATH=$PWD
PY=${PYTHON:-.venv/bin/python}
C=.cache/e2e/corpus-100000-0
INC=.cache/e2e/inc; rm -rf $INC; mkdir -p $INC
run() { /usr/bin/time -f "%e s %M KB" nice -n 10 $PY -m hygiene_cli clean "$@" --detector none --quiet 2>&1 | tail -1; }
echo "sqlite A: $(run $C/part-000.parquet $C/part-001.parquet $C/part-002.parquet $C/part-003.parquet --out $INC/sa --dedup-index $INC/index.sqlite)"
echo "sqlite B: $(run $C/part-004.parquet $C/part-005.parquet $C/part-006.parquet $C/part-007.parquet --out $INC/sb --dedup-index $INC/index.sqlite)"
ls -l $INC/index.sqlite*
PORT=6391
redis-server --port $PORT --bind 127.0.0.1 --save "" --appendonly no --dir $INC > /dev/null 2>&1 &
RPID=$!
sleep 1
echo "redis A: $(run $C/part-000.parquet $C/part-001.parquet $C/part-002.parquet $C/part-003.parquet --out $INC/ra --dedup-index redis://127.0.0.1:$PORT/0)"
echo "redis B: $(run $C/part-004.parquet $C/part-005.parquet $C/part-006.parquet $C/part-007.parquet --out $INC/rb --dedup-index redis://127.0.0.1:$PORT/0)"
redis-cli -p $PORT info memory | grep used_memory:
kill $RPID
$PY - <<'PY'
import pyarrow.parquet as pq, glob, hashlib, json
def removed(d):
    out = {}
    for p in sorted(glob.glob(f"{d}/removed/*.parquet")):
        t = pq.read_table(p, columns=["id", "hygiene_reason"]).to_pydict()
        out.update(zip(t["id"], t["hygiene_reason"]))
    return out
joint = removed(".cache/e2e/ours-100000-local-auto")
for name, (a, b) in {"sqlite": ("sa", "sb"), "redis": ("ra", "rb")}.items():
    inc = {**removed(f".cache/e2e/inc/{a}"), **removed(f".cache/e2e/inc/{b}")}
    m = {x: json.load(open(f".cache/e2e/inc/{x}/manifest.json"))["near_dedup"] for x in (a, b)}
    print(name, "same as joint:", inc == joint, len(inc), len(joint), "B removed", len(removed(f".cache/e2e/inc/{b}")), m[b])
PY
