#!/usr/bin/env bash
# Rows/s of each generation mode (BENCHMARKS.md, issue 15): best of three wall times of the
# whole process (loading the model included), threads as RAYON_NUM_THREADS says (all by default).
#   tests/bench/speed.sh MODEL [BIN] [DATA]
# MODEL: a model of data/adult.csv; BIN: the doppel binary (target/release/doppel);
# DATA: the table the seeds come from (data/adult.csv): its first 5,000 rows' sex and race, and
# the same rows with a different pattern of given cells per row.
set -euo pipefail
model=$1; bin=${2:-target/release/doppel}; data=${3:-data/adult.csv}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$data" "$work" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))[:5000]
with open(f"{sys.argv[2]}/seed.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["sex", "race"])
    for r in rows: w.writerow([r["sex"].strip(), r["race"].strip()])
cols = ["age", "sex", "race", "occupation", "hours-per-week"]
with open(f"{sys.argv[2]}/seed2.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(cols)
    for i, r in enumerate(rows):  # row i gives the columns whose bits are set in i % 32
        w.writerow([r[c].strip() if (i % 32) >> k & 1 else "" for k, c in enumerate(cols)])
PY
run() {
  local name=$1; shift; local best=999
  for _ in 1 2 3; do
    local s e; s=$(date +%s.%N)
    "$bin" generate --model "$model" --output "$work/out.csv" "$@" 2>/dev/null
    e=$(date +%s.%N); best=$(echo "d = $e - $s; if (d < $best) d else $best" | bc)
  done
  local rows=$(($(wc -l < "$work/out.csv") - 1))
  echo "$name: $rows rows, best ${best}s, $(echo "$rows / $best" | bc) rows/s"
}
run unconditional --rows 26049
run "where age >= 60" --rows 26049 --where "age >= 60"
run "where native-country = Philippines" --rows 26049 --where "native-country = Philippines"
run "rebalance sex=Female:0.5" --rows 26049 --rebalance "sex=Female:0.5"
run "fair income-per-year / sex" --rows 26049 --fair "target=income-per-year sensitive=sex"
run "seeded sex, race" --seed-data "$work/seed.csv"
run "seeded, mixed patterns" --seed-data "$work/seed2.csv"
