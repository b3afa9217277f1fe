"""``leadsync model fit`` against the plain regression and the templates, and its speed.

Run:  python benchmarks/bench_fit.py [--leads 20000] [--big 100000] [--seed 0]

On ``--leads`` generated leads with their outcome (the sandbox generator, as
``leadsync sandbox leads`` writes them), prints the held-out ROC AUC (the leads the fit
holds out: one in five by the CRC-32 of the id) of:

- the fitted model, as ``leadsync model fit`` reports it: the file written, scored by
  the engine;
- a plain logistic regression (scikit-learn, L2, C=1) on the same features — every
  candidate rule's columns — with unrounded coefficients, fitted on the same training
  leads;
- a logistic regression on the raw properties (one column per frequent value, numbers
  as they are) and the event counts per type (log(1 + n));
- each shipped template, through ``leadsync model backtest`` on the held-out leads;

then the wall time and peak memory of ``leadsync model fit`` on ``--big`` leads, from
the command's start to its report. Targets: the fit within 0.02 of the regression on
the same features, at least 0.05 above the best template, 100,000 leads in under a
minute.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from leadsync.config.templates import template_names
from leadsync.connectors.sandbox.data import DEFAULT_AS_OF, generate
from leadsync.connectors.sandbox.leads import lead_jsons
from leadsync.scoring.conditions import to_number
from leadsync.sync.fitfind import find_candidates
from leadsync.sync.fithistory import AGE_BANDS, History, read_history, text_key
from leadsync.sync.leadfile import Columns

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
AS_OF = "2026-11-01T00:00:00Z"
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout, end="")
"""


def write_leads(path: Path, n: int, seed: int, held_out: Path | None = None) -> None:
    kept = held_out.open("w", encoding="utf-8") if held_out else None
    with path.open("w", encoding="utf-8") as out:
        for lead in lead_jsons(generate(n, seed=seed)):
            line = json.dumps(lead) + "\n"
            out.write(line)
            if kept and zlib.crc32(lead["id"].encode()) % 5 == 0:
                kept.write(line)
    if kept:
        kept.close()


def fit(path: Path, out: Path) -> tuple[float, int, dict]:
    args = [LEADSYNC, "model", "fit", "-l", str(path), "-o", str(out), "--as-of", AS_OF]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *args, "-f", "json"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    first, _, body = done.stdout.partition("\n")
    code, peak = first.split()
    if code != "0":
        raise SystemExit(done.stderr)
    return wall, int(peak), json.loads(body)


def backtest_auc(model: str, path: Path) -> float:
    args = [LEADSYNC, "model", "backtest", "-m", model, "-l", str(path), "--as-of", AS_OF]
    done = subprocess.run([*args, "-f", "json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["auc"]


def regression_auc(design: sparse.spmatrix, y: np.ndarray, parts: np.ndarray) -> float:
    train, held = parts > 0, parts == 0
    model = LogisticRegression(C=1.0, max_iter=5000).fit(design[train], y[train])
    return float(roc_auc_score(y[held], model.decision_function(design[held])))


def raw_design(history: History) -> sparse.csr_matrix:
    """Frequent property values one-hot, numbers as they are, log(1 + count) per type."""
    columns: list[np.ndarray] = []
    for values in history.properties.values():
        numbers = [to_number(v) for v in values]
        if sum(n is not None for n in numbers) > 0.9 * sum(v is not None for v in values):
            x = np.array([0.0 if n is None else math.log1p(max(n, 0.0)) for n in numbers])
            columns += [x, np.array([n is None for n in numbers], dtype=float)]
            continue
        keys = [text_key(v) for v in values]
        counts: dict[str | None, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            if key is not None and n >= 20:
                columns.append(np.array([k == key for k in keys], dtype=float))
    bands = len(AGE_BANDS) + 1
    cells = sparse.csc_matrix(
        (np.frombuffer(history.event_counts, dtype=np.int32).astype(float),
         (np.frombuffer(history.event_rows, dtype=np.int32),
          np.frombuffer(history.event_cells, dtype=np.int32))),
        shape=(history.rows, len(history.families) * bands),
    )  # fmt: skip
    for (_, attr, _), index in history.families.items():
        if attr is None:
            total = cells[:, index * bands : (index + 1) * bands].sum(axis=1)
            columns.append(np.log1p(np.asarray(total).ravel()))
    return sparse.csr_matrix(np.column_stack(columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path, held = Path(folder) / "leads.jsonl", Path(folder) / "held-out.jsonl"
        write_leads(path, args.leads, args.seed, held)
        wall, _, report = fit(path, Path(folder) / "fitted.yaml")
        print(f"{args.leads} leads (seed {args.seed}), held-out AUC, {report['held_out']['leads']} "
              f"leads ({report['held_out']['converted']} converted):")  # fmt: skip
        print(f"  fitted model ({report['rules']} rules, engine): {report['held_out']['auc']:.3f}"
              f"   (training {report['training']['auc']:.3f}; fit {wall:.1f} s)")  # fmt: skip
        history = read_history(str(path), DEFAULT_AS_OF.timestamp(), Columns(), None, None)
        y, parts = history.arrays()
        candidates = find_candidates(history, None, frozenset())
        same = sparse.hstack([c.columns for c in candidates], format="csr")
        print(f"  logistic regression, same features ({same.shape[1]} columns): "
              f"{regression_auc(same, y, parts):.3f}")  # fmt: skip
        raw = raw_design(history)
        print(f"  logistic regression, raw properties + event counts ({raw.shape[1]} columns): "
              f"{regression_auc(raw, y, parts):.3f}")  # fmt: skip
        for name in template_names():
            print(f"  template {name}: {backtest_auc(name, held):.3f}")
        if args.big:
            big = Path(folder) / "big.jsonl"
            write_leads(big, args.big, args.seed + 3)
            wall, peak, report = fit(big, Path(folder) / "big.yaml")
            size = big.stat().st_size / 1e6
            print(f"fit of {args.big} leads ({size:.0f} MB): {wall:.1f} s, peak {peak / 1024:.0f} "
                  f"MiB; held-out AUC {report['held_out']['auc']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
