#!/usr/bin/env python3
"""Writes the wide table of BENCHMARKS.md (issue 14, generation memory): 800 columns cycling
integer 0-100, one of four letters, a 2-decimal normal float, yes/no; 2,000 rows, seed 1.

    python3 tests/bench/wide.py > wide.csv
"""
import random
import sys

random.seed(1)
COLUMNS = 800
out = sys.stdout
out.write(",".join(f"c{j}" for j in range(COLUMNS)) + "\n")
for _ in range(2000):
    row = []
    for j in range(COLUMNS):
        kind = j % 4
        if kind == 0:
            row.append(str(random.randint(0, 100)))
        elif kind == 1:
            row.append(random.choice(["a", "b", "c", "d"]))
        elif kind == 2:
            row.append(f"{random.gauss(50, 10):.2f}")
        else:
            row.append(random.choice(["yes", "no"]))
    out.write(",".join(row) + "\n")
