#!/usr/bin/env python3
"""How closely a synthetic CSV writes numbers the way the real one does (BENCHMARKS.md, issue 14).

For every column whose real cells are all numbers: the total variation (half the L1 distance)
between the real and synthetic shares of digits shown after the point (columns with a point),
and of zeros ending the whole part (integer columns; 0 itself counts apart).

    python3 tests/bench/forms.py REAL.csv SYNTHETIC.csv
"""
import collections
import csv
import sys


def shares(values, form):
    counts = collections.Counter(form(v) for v in values)
    return {k: n / len(values) for k, n in counts.items()}


def decimals(v):
    return len(v.split(".")[1]) if "." in v else 0


def zeros(v):
    whole = str(abs(int(float(v))))
    return "zero" if whole == "0" else len(whole) - len(whole.rstrip("0"))


def number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def main(real_path, synthetic_path):
    with open(real_path) as f:
        real = list(csv.DictReader(f))
    with open(synthetic_path) as f:
        synthetic = list(csv.DictReader(f))
    for column in real[0]:
        r = [row[column] for row in real if row[column] != ""]
        s = [row[column] for row in synthetic if row[column] != ""]
        if not r or not s or not all(number(v) for v in r + s):
            continue
        form, name = (decimals, "decimals") if any("." in v for v in r) else (zeros, "zeros")
        a, b = shares(r, form), shares(s, form)
        tv = sum(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b)) / 2
        print(f"{column}\t{name}\t{tv:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
