#!/usr/bin/env python3
"""Downstream check of rebalanced synthetic data: does a >50K classifier trained with synthetic
rows that balance the sexes do better on real women, and at what cost? An honest finding, no
pass/fail threshold.

    pip install numpy scikit-learn
    RAYON_NUM_THREADS=1 python3 tests/bench/downstream.py \
        --doppel target/release/doppel --data data/adult.csv --work /tmp/downstream

It runs, in --work (the model is reused if --work already holds one; delete the folder to start over):

    # a. shuffle data/adult.csv (seed 0), 80% -> train.csv, 20% -> holdout.csv, cells unchanged
    doppel train    --input train.csv --model model.doppel            # default settings, seed 42
    doppel generate --model model.doppel --rows <#train> --rebalance "sex=Female:0.5" \
                    --output rebalanced.csv                          # seed 42
    doppel generate --model model.doppel --rows <#men - #women in train> --where "sex = Female" \
                    --output women.csv                               # seed 42

then trains HistGradientBoosting (categoricals ordinal-encoded, native categorical splits) and
LogisticRegression (one-hot + standardised numbers) on A real train, B real + rebalanced,
C real + synthetic women, D rebalanced alone, and scores each on the real holdout per sex.
The same seed and thread count give the same model (README), hence RAYON_NUM_THREADS=1.
"""
import argparse
import csv
import os
import random
import subprocess
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

TARGET, POSITIVE, SENSITIVE = "income-per-year", ">50K", "sex"
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]


def run(cmd):
    # Every doppel command is echoed so that the log is the reproduction recipe.
    print("$ " + " ".join(cmd), flush=True)
    t = time.time()
    subprocess.run(cmd, check=True)
    print(f"  ({time.time() - t:.0f} s)", flush=True)


def split(data, work, seed):
    # Shuffle raw lines, not parsed rows, so the train/holdout cells are byte-identical to the source.
    with open(data, newline="") as f:
        header, *lines = [l.rstrip("\r\n") for l in f if l.strip()]
    random.Random(seed).shuffle(lines)
    cut = int(0.8 * len(lines))
    for name, part in (("train.csv", lines[:cut]), ("holdout.csv", lines[cut:])):
        with open(os.path.join(work, name), "w", newline="") as f:
            f.write("\n".join([header] + part) + "\n")


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def features(rows, columns):
    # Numbers as float (unparseable or empty -> NaN), categories as stripped text.
    num = np.array([[_float(r[c]) for c in NUMERIC] for r in rows])
    cat = np.array([[r[c].strip() for c in columns if c not in NUMERIC] for r in rows], dtype=object)
    y = np.array([r[TARGET].strip().rstrip(".") == POSITIVE for r in rows])
    return num, cat, y


def _float(v):
    try:
        return float(v)
    except ValueError:
        return np.nan


def fit_predict(kind, train, test):
    (num, cat, y), (tnum, tcat, _) = train, test
    if kind == "HGB":
        # Ordinal codes + native categorical splits; unseen holdout categories become missing.
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan).fit(cat)
        X, T = (np.hstack([n, enc.transform(c)]) for n, c in ((num, cat), (tnum, tcat)))
        mask = [False] * num.shape[1] + [True] * cat.shape[1]
        clf = HistGradientBoostingClassifier(categorical_features=mask, random_state=0)
    else:
        # One-hot + standardised numbers (NaN -> training median) for a linear baseline.
        med = np.nanmedian(num, axis=0)
        fill = lambda n: np.where(np.isnan(n), med, n)
        sc = StandardScaler().fit(fill(num))
        oh = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cat)
        X, T = (np.hstack([sc.transform(fill(n)), oh.transform(c)]) for n, c in ((num, cat), (tnum, tcat)))
        clf = LogisticRegression(max_iter=2000)
    clf.fit(X, y)
    return clf.predict_proba(T)[:, 1]


def scores(p, y, sex):
    # Per group: accuracy, AUC, recall of >50K and positive-prediction rate at threshold 0.5.
    out = {}
    for g, m in (("F", sex == "Female"), ("M", sex == "Male"), ("all", np.ones_like(y))):
        pred, yy = p[m] >= 0.5, y[m]
        out[g] = dict(acc=(pred == yy).mean(), auc=roc_auc_score(yy, p[m]),
                      rec=pred[yy].mean(), pos=pred.mean())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--doppel", required=True, help="path of the doppel binary")
    ap.add_argument("--data", required=True, help="the Adult CSV")
    ap.add_argument("--work", default="/tmp/downstream", help="folder for intermediate files")
    ap.add_argument("--split-seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda name: os.path.join(a.work, name)

    split(a.data, a.work, a.split_seed)
    real, holdout = load(w("train.csv")), load(w("holdout.csv"))
    sexes = [r[SENSITIVE] for r in real]
    men, women = sexes.count("Male"), sexes.count("Female")
    print(f"train {len(real)} rows ({men} men, {women} women), holdout {len(holdout)} rows", flush=True)

    if not os.path.exists(w("model.doppel")):
        run([a.doppel, "train", "--input", w("train.csv"), "--model", w("model.doppel")])
    run([a.doppel, "generate", "--model", w("model.doppel"), "--rows", str(len(real)),
         "--rebalance", "sex=Female:0.5", "--output", w("rebalanced.csv")])
    run([a.doppel, "generate", "--model", w("model.doppel"), "--rows", str(men - women),
         "--where", "sex = Female", "--output", w("women.csv")])
    rebalanced, syn_women = load(w("rebalanced.csv")), load(w("women.csv"))
    for name, rows in (("rebalanced", rebalanced), ("women", syn_women)):
        s = [r[SENSITIVE] for r in rows]
        pos = sum(r[TARGET].strip() == POSITIVE for r in rows if r[SENSITIVE] == "Female")
        print(f"{name}: {len(rows)} rows, Female share {s.count('Female') / len(rows):.3f}, "
              f">50K among synthetic women {pos / max(1, s.count('Female')):.3f}")
    real_f = [r for r in real if r[SENSITIVE] == "Female"]
    print(f">50K among real train women {sum(r[TARGET] == POSITIVE for r in real_f) / len(real_f):.3f}")

    columns = [c for c in real[0] if c != TARGET]
    test = features(holdout, columns)
    y, sex = test[2], np.array([r[SENSITIVE] for r in holdout])
    sets = {"A real": real, "B real+rebalanced": real + rebalanced,
            "C real+syn women": real + syn_women, "D rebalanced only": rebalanced}
    print("\n| model | training set | rows | acc F | acc M | acc all | AUC F | AUC M | AUC all "
          "| recall F | recall M | recall all | pos F | pos M | DP gap M-F |")
    print("|" + "---|" * 15)
    for kind in ("HGB", "LR"):
        for name, rows in sets.items():
            s = scores(fit_predict(kind, features(rows, columns), test), y, sex)
            cells = [f"{s[g][k]:.3f}" for k in ("acc", "auc", "rec") for g in ("F", "M", "all")]
            cells += [f"{s[g]['pos']:.3f}" for g in ("F", "M")] + [f"{s['M']['pos'] - s['F']['pos']:+.3f}"]
            print(f"| {kind} | {name} | {len(rows)} | " + " | ".join(cells) + " |", flush=True)
    real_y = y.astype(bool)
    print(f"\nholdout base rates: >50K F {real_y[sex == 'Female'].mean():.3f}, "
          f"M {real_y[sex == 'Male'].mean():.3f}; rows F {(sex == 'Female').sum()}, M {(sex == 'Male').sum()}")


if __name__ == "__main__":
    sys.exit(main())
