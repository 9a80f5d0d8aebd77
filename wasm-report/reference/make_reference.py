#!/usr/bin/env python3
"""Reference figures for doppel-report's fidelity and correlation metrics.

Writes reference.json next to this script: for three public tables (UCI Adult, telecom churn,
credit scoring) and two deterministic "synthetic" variants of each, the univariate accuracy of
every column, the bivariate accuracy of every column pair and their means as computed by
mostlyai-qa's own binning and accuracy functions, and the real and synthetic correlation
matrices (Pearson / Cramér's V / correlation ratio) as computed by scipy and pandas, with
SDMetrics' CorrelationSimilarity as a cross-check of the Pearson figures.

wasm-report/tests/reference.rs rebuilds the same variants in Rust and checks doppel-report's
figures against this file (tolerance 0.005).

Environment (see README.md beside this script for the exact install commands):
    python -m venv /tmp/venv-ref
    pip install --no-deps mostlyai-qa==1.10.11
    pip install numpy pandas pyarrow phik plotly joblib scipy scikit-learn sdmetrics packaging
    python make_reference.py            # from any directory

mostlyai-qa's package __init__ imports its HTML report and embedding code (torch,
transformers, model2vec), which the accuracy functions do not use; we load its submodules
without running that __init__ (see `load_mostlyai_qa`) so that none of those are needed.
"""

import datetime
import importlib.metadata as md
import io
import json
import pathlib
import platform
import sys
import types

import numpy as np
import pandas as pd
import scipy.stats
from scipy.stats.contingency import association

HERE = pathlib.Path(__file__).resolve().parent
CRATE = HERE.parent  # wasm-report
REPO = CRATE.parent

# The cell texts doppel-report treats as missing (FidelityOptions::default().missing_tokens).
MISSING = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]

# Paths relative to wasm-report/, where the Rust test finds them too.
DATASETS = {
    "adult": "../data/adult.csv",
    "churn": "tests/data/churn.csv",
    "credit": "tests/data/credit.csv",
}

# Rotation step per column index j of each variant (see `variants`).
ROTATE_STEP = 997
HALVES_STEP = 31


def load_mostlyai_qa():
    """Imports mostlyai.qa._accuracy and ._sampling without running mostlyai/qa/__init__.py."""
    import mostlyai

    qa_dir = pathlib.Path(mostlyai.__path__[0]) / "qa"
    package = types.ModuleType("mostlyai.qa")
    package.__path__ = [str(qa_dir)]
    sys.modules["mostlyai.qa"] = package
    from mostlyai.qa import _accuracy, _common, _sampling

    return _accuracy, _common, _sampling


ACC, COMMON, SAMPLING = load_mostlyai_qa()


def read_text(path):
    """The CSV as text cells, exactly as doppel's Table reads it."""
    return pd.read_csv(CRATE / path, dtype=str, keep_default_na=False)


def rotate(df, step):
    """Column j moved down by (j * step) % n rows, wrapping: out[i] = df[(i - shift) % n]."""
    n = len(df)
    cols = {c: np.roll(df[c].to_numpy(), (j * step) % n) for j, c in enumerate(df.columns)}
    return pd.DataFrame(cols, columns=df.columns)


def variants(text):
    """The (real, synthetic) text tables of each variant.

    rotate: real = the whole table; synthetic = column j rotated down by (j * 997) % n rows.
        Every marginal is kept (univariate accuracy 1), the dependence between columns broken.
    halves: real = the first n // 2 rows; synthetic = the other rows, column j rotated down
        by (j * 31) % (n - n // 2) rows. Marginals differ by sampling, pairs by the rotation.
    """
    n = len(text)
    h = n // 2
    first = text.iloc[:h].reset_index(drop=True)
    second = text.iloc[h:].reset_index(drop=True)
    return {
        "rotate": (text, rotate(text, ROTATE_STEP)),
        "halves": (first, rotate(second, HALVES_STEP)),
    }


def typed(text):
    """Text cells parsed as pandas would load the CSV, with doppel's missing tokens as NaN.

    A column whose non-missing cells all parse as numbers becomes float, as in doppel's
    Schema::infer; round_trip parsing gives the same doubles as Rust's str::parse::<f64>.
    """
    buffer = io.StringIO()
    text.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(
        buffer, keep_default_na=False, na_values=MISSING, float_precision="round_trip"
    )


# ---------------------------------------------------------------- accuracy (mostlyai-qa)


def mostlyai_accuracy(real, synthetic):
    """Univariate and bivariate accuracies with mostlyai-qa's pipeline (reporting.py,
    `_report_accuracy_and_correlations`): prepare_data_for_accuracy, bin_data with 10 bins
    from the real table, calculate_univariates, calculate_bivariates."""
    for df in (real, synthetic):
        # sample_text_tokens would replace "text-like" columns by sampled GPT-2 tokens; it
        # needs transformers. Check it would do nothing here (numeric columns are never
        # text-like once harmonized to Float64), then skip it.
        for c in df.columns:
            assert not SAMPLING.is_text_heuristic(SAMPLING.harmonize_dtype(df[c])), c
    SAMPLING.sample_text_tokens = lambda df: df
    trn = SAMPLING.prepare_data_for_accuracy(df_tgt=real, setup="1:1")
    syn = SAMPLING.prepare_data_for_accuracy(
        df_tgt=synthetic, setup="1:1", ori_dtypes=trn.dtypes.to_dict()
    )
    # binning_data without its Statistics store: real bins, then synthetic mapped onto them.
    ori_bin, bins = ACC.bin_data(df=trn, bins=10)
    syn_bin, _ = ACC.bin_data(df=syn, bins=bins)
    uni = ACC.calculate_univariates(ori_bin, syn_bin)
    biv = ACC.calculate_bivariates(ori_bin, syn_bin)
    prefix = len(COMMON.TGT_COLUMN_PREFIX)
    columns = {row.column[prefix:]: float(row.accuracy) for row in uni.itertuples()}
    # calculate_bivariates lists each pair twice (both orders); keep the real table's order.
    order = {c: i for i, c in enumerate(real.columns)}
    pairs = {}
    for row in biv.itertuples():
        a, b = row.col1[prefix:], row.col2[prefix:]
        if order[a] < order[b]:
            pairs[(a, b)] = float(row.accuracy)
    names = list(real.columns)
    pair_list = [
        [a, b, pairs[(a, b)]] for i, a in enumerate(names) for b in names[i + 1 :]
    ]
    return {
        "columns": {c: columns[c] for c in names},
        "pairs": pair_list,
        "univariate": float(np.mean(list(columns.values()))),
        "bivariate": float(np.mean([p[2] for p in pair_list])),
        # The real table's bins: numeric break points (the last one before mostlyai-qa adds
        # 1 to it) or the categories with a bin of their own, then its special bins.
        "bins": {
            c[prefix:]: [b if isinstance(b, str) else float(b) for b in v]
            for c, v in bins.items()
        },
    }


# ---------------------------------------------------------------- correlations


def pearson(x, y):
    """Pearson's r over rows where both are present (scipy.stats.pearsonr)."""
    keep = x.notna() & y.notna()
    x, y = x[keep].to_numpy(float), y[keep].to_numpy(float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(scipy.stats.pearsonr(x, y).statistic)


def levels(s):
    """Categorical codes with missing as a level of its own."""
    return s.astype("object").where(s.notna(), "\x00missing")


def cramers_v(x, y):
    """Cramér's V without bias correction, missing as its own level
    (scipy.stats.contingency.association, method='cramer')."""
    table = pd.crosstab(levels(x), levels(y)).to_numpy()
    if min(table.shape) < 2:
        return None
    return float(association(table, method="cramer", correction=False))


def eta(numeric, categorical):
    """Correlation ratio: sqrt(between-group / total sum of squares) of the numeric column
    grouped by the categorical one (missing a level), over rows where the number is present."""
    keep = numeric.notna()
    y = numeric[keep].astype(float)
    g = levels(categorical[keep])
    total = ((y - y.mean()) ** 2).sum()
    if total == 0 or g.nunique() < 2:
        return None
    groups = y.groupby(g)
    between = (groups.count() * (groups.mean() - y.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def measure(kind_a, kind_b):
    if kind_a == kind_b == "numeric":
        return "pearson"
    if kind_a == kind_b == "categorical":
        return "cramers_v"
    return "correlation_ratio"


def association_of(df, a, b, kinds):
    m = measure(kinds[a], kinds[b])
    if m == "pearson":
        return pearson(df[a], df[b])
    if m == "cramers_v":
        return cramers_v(df[a], df[b])
    num, cat = (a, b) if kinds[a] == "numeric" else (b, a)
    return eta(df[num], df[cat])


def correlation_matrix(df, names, kinds):
    k = len(names)
    out = [[None] * k for _ in range(k)]
    for i in range(k):
        out[i][i] = 1.0  # a column with itself, by convention (as in doppel-report)
        for j in range(i + 1, k):
            v = association_of(df, names[i], names[j], kinds)
            out[i][j] = out[j][i] = v
    return out


def correlations(real, synthetic):
    names = list(real.columns)
    kinds = {
        c: "numeric" if pd.api.types.is_numeric_dtype(real[c]) else "categorical" for c in names
    }
    r = correlation_matrix(real, names, kinds)
    s = correlation_matrix(synthetic, names, kinds)
    diffs = [
        abs(r[i][j] - s[i][j])
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if r[i][j] is not None and s[i][j] is not None
    ]
    return {
        "names": names,
        "kinds": [kinds[c] for c in names],
        "measures": [[measure(kinds[a], kinds[b]) for b in names] for a in names],
        "real": r,
        "synthetic": s,
        "mean_abs_difference": float(np.mean(diffs)),
    }


def sdmetrics_pearson(real, synthetic, corr):
    """SDMetrics' CorrelationSimilarity on every numeric pair; its real and synthetic r must
    match scipy's (the largest gap is recorded), and its score is 1 - |r_real - r_syn| / 2."""
    from sdmetrics.column_pairs import CorrelationSimilarity

    names = corr["names"]
    out, gap = [], 0.0
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            if corr["measures"][i][j] != "pearson":
                continue
            b = names[j]
            got = CorrelationSimilarity.compute_breakdown(
                real[[a, b]], synthetic[[a, b]], coefficient="Pearson"
            )
            gap = max(
                gap,
                abs(got["real"] - corr["real"][i][j]),
                abs(got["synthetic"] - corr["synthetic"][i][j]),
            )
            out.append([a, b, float(got["score"])])
    assert gap < 1e-9, gap
    return {"pairs": out, "max_gap_to_scipy": gap}


# ---------------------------------------------------------------- main


def versions():
    packages = ["mostlyai-qa", "sdmetrics", "scipy", "pandas", "numpy", "pyarrow", "phik"]
    return {p: md.version(p) for p in packages} | {"python": platform.python_version()}


def main():
    out = {
        "provenance": {
            "script": "wasm-report/reference/make_reference.py",
            "command": "python wasm-report/reference/make_reference.py",
            "date": datetime.date.today().isoformat(),
            "packages": versions(),
            "accuracy": "mostlyai-qa 1.10.11: _sampling.prepare_data_for_accuracy, "
            "_accuracy.bin_data(bins=10), calculate_univariates, calculate_bivariates "
            "(values rounded by mostlyai-qa to 5 decimals)",
            "correlation": "pearson: scipy.stats.pearsonr on pairwise-complete rows; "
            "cramers_v: scipy.stats.contingency.association(method='cramer', "
            "correction=False), missing as a level; correlation_ratio (eta): pandas "
            "groupby, rows with the number present, categorical missing as a level; "
            "diagonal 1 by convention; mean_abs_difference: mean over i < j "
            "where both are defined; cross-check: sdmetrics CorrelationSimilarity",
            "missing_tokens": MISSING,
            "variants": {
                "rotate": f"real = all rows; synthetic column j rotated down by "
                f"(j * {ROTATE_STEP}) % n rows (np.roll)",
                "halves": f"real = first n // 2 rows; synthetic = remaining rows, column j "
                f"rotated down by (j * {HALVES_STEP}) % (n - n // 2) rows",
            },
        },
        "tolerance": 0.005,
        "datasets": {},
    }
    for name, path in DATASETS.items():
        text = read_text(path)
        entry = {"path": path, "rows": len(text), "variants": {}}
        for variant, (real_text, syn_text) in variants(text).items():
            real, syn = typed(real_text), typed(syn_text)
            for c in real.columns:
                if pd.api.types.is_numeric_dtype(real[c]):
                    syn[c] = pd.to_numeric(syn[c], errors="raise")
            corr = correlations(real, syn)
            entry["variants"][variant] = {
                "real_rows": len(real),
                "synthetic_rows": len(syn),
                "accuracy": mostlyai_accuracy(real, syn),
                "correlation": corr,
                "sdmetrics_correlation_similarity": sdmetrics_pearson(real, syn, corr),
            }
            print(name, variant, "done", file=sys.stderr)
        out["datasets"][name] = entry
    target = HERE / "reference.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
