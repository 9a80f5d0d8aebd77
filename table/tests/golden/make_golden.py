#!/usr/bin/env python3
"""Reference values for doppel's privacy accountants (table/tests/accountant.rs).

Writes table/tests/golden/accountant.json from three independent implementations:

- "rdp": Opacus's RDP accountant (opacus/accountants/analysis/rdp.py: Mironov, Talwar, Zhang
  2019 + Balle et al. 2020 conversion) over Opacus's default orders, via
  RDPAccountant.get_privacy_spent: epsilon and the optimal order.
- "pld": Google's dp_accounting PLDAccountant (connect-the-dots, pessimistic, add-or-remove
  adjacency) at value_discretization_interval 1e-4, and again at 1e-3. The PLD is a
  pessimistic (upper) estimate, so pld_1e-4 >= true epsilon, and pld_1e-3 - pld_1e-4 is
  recorded as an estimate of its own discretisation error ("pld_error").
- "opacus_prv": Opacus's PRV accountant (Gopi et al. 2021, remove direction only), eps_error
  0.01, delta_error delta/1000, which returns eps_upper.

Opacus is loaded without torch: the accountant modules import torch only through
opacus/accountants/accountant.py (for the optimizer hook), so a stub of that module with the
IAccountant base class is registered before the real rdp.py and prv.py are loaded by path.

Usage (versions recorded in the output header):
    python -m venv /tmp/dpenv
    /tmp/dpenv/bin/pip install dp_accounting numpy scipy
    /tmp/dpenv/bin/pip install --no-deps opacus
    /tmp/dpenv/bin/python table/tests/golden/make_golden.py
"""

import abc
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import time
import types

import dp_accounting
import numpy as np
import scipy
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "accountant.json")

QS = [0.001, 0.01, 0.05, 0.2, 1.0]
SIGMAS = [0.5, 0.8, 1.0, 2.0, 4.0, 8.0]
STEPS = [1, 10, 100, 1000, 10000]
DELTAS = [1e-5, 1e-6]
# PLD and Opacus PRV are computed where the RDP epsilon is at most this (beyond it the
# lattices get large and slow, and such budgets are meaningless in practice).
PLD_MAX_RDP_EPS = 100.0
PRV_MAX_RDP_EPS = 100.0

HETEROGENEOUS = [
    {
        "name": "gaussian_release_plus_dpsgd",
        "events": [(1.0, 5.0, 1), (0.01, 1.0, 1000)],
    },
    {
        "name": "two_phases",
        "events": [(0.01, 1.0, 500), (0.02, 1.5, 500)],
    },
    {
        "name": "three_mechanisms",
        "events": [(0.05, 2.0, 100), (1.0, 10.0, 10), (0.001, 0.8, 2000)],
    },
    {
        "name": "small_and_large_noise",
        "events": [(0.2, 4.0, 50), (0.01, 0.8, 3000)],
    },
]


def load_opacus():
    """Imports opacus.accountants.{rdp,prv} from the installed files without importing torch."""
    spec = importlib.util.find_spec("opacus")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps opacus")
    root = list(spec.submodule_search_locations)[0]
    acc_dir = os.path.join(root, "accountants")

    pkg = types.ModuleType("opacus")
    pkg.__path__ = [root]
    sys.modules["opacus"] = pkg
    acc = types.ModuleType("opacus.accountants")
    acc.__path__ = [acc_dir]
    sys.modules["opacus.accountants"] = acc

    stub = types.ModuleType("opacus.accountants.accountant")

    class IAccountant(abc.ABC):
        def __init__(self):
            self.history = []

    stub.IAccountant = IAccountant
    sys.modules["opacus.accountants.accountant"] = stub

    def load(name, path):
        s = importlib.util.spec_from_file_location(name, path)
        m = importlib.util.module_from_spec(s)
        sys.modules[name] = m
        s.loader.exec_module(m)
        return m

    rdp = load("opacus.accountants.rdp", os.path.join(acc_dir, "rdp.py"))
    prv = load("opacus.accountants.prv", os.path.join(acc_dir, "prv.py"))
    return rdp.RDPAccountant, prv.PRVAccountant


RDPAccountant, PRVAccountant = load_opacus()


def opacus_rdp(events, delta):
    acc = RDPAccountant()
    acc.history = [(s, q, k) for (q, s, k) in events]
    eps, order = acc.get_privacy_spent(delta=delta)
    return float(eps), float(order)


def opacus_prv(events, delta):
    acc = PRVAccountant()
    acc.history = [(s, q, k) for (q, s, k) in events]
    return float(acc.get_epsilon(delta=delta, eps_error=0.01))


def pld(events, delta, interval):
    acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=interval)
    parts = []
    for q, s, k in events:
        ev = dp_event.GaussianDpEvent(s)
        if q < 1.0:
            ev = dp_event.PoissonSampledDpEvent(q, ev)
        parts.append(dp_event.SelfComposedDpEvent(ev, k))
    acc.compose(dp_event.ComposedDpEvent(parts))
    return float(acc.get_epsilon(delta))


def version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main():
    started = time.time()
    cases = []
    for q in QS:
        for s in SIGMAS:
            for k in STEPS:
                for d in DELTAS:
                    events = [(q, s, k)]
                    eps, order = opacus_rdp(events, d)
                    case = {
                        "events": [{"sampling_rate": q, "noise_multiplier": s, "steps": k}],
                        "delta": d,
                        "rdp": eps,
                        "rdp_order": order,
                    }
                    if d == 1e-5 and eps <= PLD_MAX_RDP_EPS:
                        fine = pld(events, d, 1e-4)
                        coarse = pld(events, d, 1e-3)
                        case["pld"] = fine
                        case["pld_error"] = max(coarse - fine, 0.0)
                    if d == 1e-5 and eps <= PRV_MAX_RDP_EPS and q < 1.0:
                        try:
                            case["opacus_prv"] = opacus_prv(events, d)
                        except Exception as e:  # record, do not fail: it is a comparison only
                            case["opacus_prv_error"] = repr(e)
                    cases.append(case)
                    print(q, s, k, d, case.get("rdp"), case.get("pld"), file=sys.stderr)
    for h in HETEROGENEOUS:
        for d in DELTAS:
            events = h["events"]
            eps, order = opacus_rdp(events, d)
            fine = pld(events, d, 1e-4)
            coarse = pld(events, d, 1e-3)
            cases.append(
                {
                    "name": h["name"],
                    "events": [
                        {"sampling_rate": q, "noise_multiplier": s, "steps": k}
                        for (q, s, k) in events
                    ],
                    "delta": d,
                    "rdp": eps,
                    "rdp_order": order,
                    "pld": fine,
                    "pld_error": max(coarse - fine, 0.0),
                    "opacus_prv": opacus_prv(events, d),
                }
            )
    header = {
        "generator": "table/tests/golden/make_golden.py",
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "packages": {
            "opacus": version("opacus"),
            "dp-accounting": version("dp-accounting"),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "rdp": "opacus RDPAccountant.get_privacy_spent, default orders",
        "pld": "dp_accounting PLDAccountant(ADD_OR_REMOVE_ONE), value_discretization_interval 1e-4; "
        "pld_error = eps(1e-3) - eps(1e-4)",
        "opacus_prv": "opacus PRVAccountant.get_epsilon(eps_error=0.01, delta_error=delta/1000): eps_upper",
        "seconds": round(time.time() - started, 1),
    }
    with open(OUT, "w") as f:
        json.dump({"header": header, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
