#!/usr/bin/env bash
# Rebalancing figure of BENCHMARKS.md (issue 15): `--rebalance "sex=Female:0.5"`, 26,049 rows,
# then the report's overall accuracy of each sex's synthetic rows against Adult's rows of that
# sex. Usage: tests/bench/rebalance.sh MODEL [DOPPEL_BINARY] (work files in $WORK, default
# /tmp/doppel-rebalance). Prints "women <accuracy> men <accuracy> share <women's share>".
set -euo pipefail
model=$1
bin=${2:-target/release/doppel}
data="$(cd "$(dirname "$0")/../.." && pwd)/data/adult.csv"
work=${WORK:-/tmp/doppel-rebalance}
mkdir -p "$work"
"$bin" generate --model "$model" --rows 26049 --rebalance "sex=Female:0.5" \
  --output "$work/rebalanced.csv" 2>/dev/null
python3 - "$data" "$work" <<'PY'
import csv, sys
data, work = sys.argv[1:]
def split(path, prefix):
    rows = list(csv.reader(open(path, newline="")))
    sex = rows[0].index("sex")
    for value in ("Female", "Male"):
        with open(f"{work}/{prefix}-{value}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(rows[0])
            w.writerows(r for r in rows[1:] if r[sex].strip() == value)
    return sum(r[sex].strip() == "Female" for r in rows[1:]) / (len(rows) - 1)
split(data, "real")
print(f"{split(f'{work}/rebalanced.csv', 'synthetic'):.5f}", file=open(f"{work}/share", "w"))
PY
for sex in Female Male; do
  "$bin" report --real "$work/real-$sex.csv" --synthetic "$work/synthetic-$sex.csv" \
    --json "$work/report-$sex.json" >/dev/null 2>&1
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
acc = [json.load(open(f"{work}/report-{s}.json"))["fidelity"]["overall"] for s in ("Female", "Male")]
print(f"women {acc[0]:.4f} men {acc[1]:.4f} share {open(work + '/share').read().strip()}")
PY
