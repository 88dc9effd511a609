#!/usr/bin/env python
"""Regrouping a window (``monitor.dedupe.regroup``) on real, hand-labelled news: ECB+, both halves.

    .venv/bin/python bench/regroup_eval.py               # about four minutes
    .venv/bin/python bench/regroup_eval.py --tune-only   # the fit alone: the held-out half is not measured

The same corpus, halves and term counts as ``bench/story_eval.py`` (read it for ECB+ and how the halves are
split): each half is one window, every article's vector is the stage's, with the IDF counted from the
news pages, the other half's texts (never its labels) and the half's own. What is measured is grouping the
whole window at once, as a pass over the stored window would, not placing one article at a time.

On the tuning half only, it fits ``regroup``'s logistic model (IRLS, L2 1.0 on standardised features) on
every pair of articles, pairs of one topic weighing 1 and pairs across topics sharing as much weight in
all (the hard negatives are the two events of one topic), and picks the threshold with the best B-cubed
F1 (the middle of a plateau). It prints that fit beside ``regroup.MODEL``, the constants the module ships
with, and measures both halves with the shipped model, beside average linkage of the stage's cosine at
its best tuning threshold. Then what the daemon does: the stage places the half one article at a time
(``--orders`` shuffled orders, at the configured threshold), and the regrouping pass
(``monitor.dedupe.regrouping``, which only splits) runs over the same database; both are measured, and the
targets are checked on the held-out half after the pass. Writes ``bench/out/regroup_eval.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import report_checks
from story_eval import (
    ECBPLUS,
    SHARED,
    TARGETS,
    adjusted_rand,
    bcubed,
    halves_and_backgrounds,
    place_and_regroup,
)

from monitor.config import DedupSettings
from monitor.dedupe import regroup
from monitor.dedupe.stories import SCORING, idf, term_counts, vectorize

FEATURES = [f.name for f in fields(regroup.PairFeatures)]
THRESHOLDS = [round(0.30 + 0.025 * n, 3) for n in range(13)]
COSINE_THRESHOLDS = [round(0.10 + 0.01 * n, 2) for n in range(31)]


def window_vectors(mine, background: list[tuple[str, str]]) -> list[dict[str, float]]:
    """The stage's vectors of a half, with term counts from its background texts and the half itself."""
    counts = [term_counts(d.title, d.body) for d in mine]
    frequencies: defaultdict[str, int] = defaultdict(int)
    for title, body in background:
        for term in term_counts(title, body):
            frequencies[term] += 1
    for c in counts:
        for term in c:
            frequencies[term] += 1
    total = len(background) + len(mine)
    idfs = {term: idf(n, total) for term, n in frequencies.items()}
    return [vectorize(c, idfs, idf(0, total)).as_dict() for c in counts]


def fit(window: regroup.Window, docs) -> tuple[regroup.RegroupModel, dict]:
    """The logistic model fitted on every pair of the window (raw-scale weights), threshold not yet chosen."""
    n = window.size
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    features = window.features(pairs)
    x = np.array([[getattr(features[p], name) for name in FEATURES] for p in pairs])
    same_story = np.array([docs[i].story == docs[j].story for i, j in pairs], dtype=float)
    same_topic = np.array([docs[i].topic == docs[j].topic for i, j in pairs])
    weight = np.where(same_topic, 1.0, same_topic.sum() / max(1, (~same_topic).sum()))
    mean, spread = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / spread])
    beta = np.zeros(z.shape[1])
    ridge = np.eye(z.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(50):  # Newton's method (IRLS)
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (weight * (p - same_story)) + ridge @ beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    raw = beta[1:] / spread
    intercept = float(beta[0] - (raw * mean).sum())
    model = regroup.RegroupModel(intercept=intercept, **dict(zip(FEATURES, map(float, raw))), threshold=0.5)
    return model, {
        "pairs": len(pairs),
        "positives": int(same_story.sum()),
        "same_topic": int(same_topic.sum()),
    }


def scores(gold, labels) -> dict:
    precision, recall, f1 = bcubed(gold, labels)
    return {
        "p": precision,
        "r": recall,
        "f1": f1,
        "ari": adjusted_rand(gold, labels),
        "groups": len(set(labels)),
    }


def plateau_middle(rows: list[tuple[float, float]]) -> float:
    """The threshold in the middle of the best F1's plateau (``rows``: threshold, F1)."""
    best = max(f1 for _, f1 in rows)
    plateau = [t for t, f1 in rows if f1 >= best - 1e-9]
    return plateau[len(plateau) // 2]


def judged(window: regroup.Window, model: regroup.RegroupModel) -> dict[tuple[int, int], float]:
    pairs = sorted(window.candidate_pairs())
    return {pair: model.probability(f) for pair, f in window.features(pairs).items()}


def cosines(window: regroup.Window) -> dict[tuple[int, int], float]:
    similarity = {}
    for i in range(window.size):
        row = window.row(i)
        for j in np.nonzero(row[i + 1 :])[0]:
            similarity[i, i + 1 + int(j)] = float(row[i + 1 + j])
    return similarity


def stage_then_pass(mine, background, orders: int) -> dict[str, dict]:
    """The stage placing the half one article at a time at the configured threshold, then the daemon's
    regrouping pass (``monitor.dedupe.regrouping``) over the same database: means over arrival orders."""
    threshold = DedupSettings().story_threshold
    runs: dict[str, list[dict]] = {"stage, one at a time": [], "stage, then the regrouping pass": []}
    for seed in range(orders):
        arriving = random.Random(seed).sample(mine, len(mine))
        gold = [d.story for d in arriving]
        placed, regrouped = place_and_regroup(
            arriving, threshold=threshold, scoring=SCORING, background=background, regroup=True
        )
        assert regrouped is not None
        runs["stage, one at a time"].append(scores(gold, placed))
        runs["stage, then the regrouping pass"].append(scores(gold, regrouped))
    return {
        name: {
            "threshold": threshold,
            "orders": orders,
            **{k: statistics.fmean(r[k] for r in rows) for k in rows[0]},
        }
        for name, rows in runs.items()
    }


def line(name: str, row: dict) -> str:
    return (
        f"  {name:<44}{row['threshold']:>6.3f}{row['p']:>8.4f}{row['r']:>8.4f}{row['f1']:>8.4f}"
        f"{row['ari']:>8.4f}{row['groups']:>8.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune-only", action="store_true", help="fit and measure on the tuning half alone")
    parser.add_argument(
        "--orders", type=int, default=2, help="arrival orders for the stage's rows (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="one arrival order for the stage's rows")
    args = parser.parse_args()
    if not ECBPLUS.is_dir():
        print(f"skipped: no ECB+ under {SHARED} (set MONITOR_SHARED_DIR)")
        return
    started = time.perf_counter()
    halves, backgrounds = halves_and_backgrounds()
    measured = ["tune"] if args.tune_only else list(halves)
    windows, cpu = {}, {}
    for name in measured:
        mine = halves[name]
        vectors = window_vectors(mine, backgrounds[name])
        clock = time.process_time()
        regroup.regroup(vectors)
        cpu[name] = time.process_time() - clock
        windows[name] = regroup.Window(vectors)
    result: dict = {"documents": {k: len(v) for k, v in halves.items()}, "regroup_cpu_s": cpu}

    # Fitted on the tuning half alone, threshold included.
    tune, tune_gold = windows["tune"], [d.story for d in halves["tune"]]
    fitted, sample = fit(tune, halves["tune"])
    probability = judged(tune, fitted)
    sweep = [
        (t, bcubed(tune_gold, regroup.average_linkage(tune.size, probability, t))[2]) for t in THRESHOLDS
    ]
    fitted = regroup.RegroupModel(**{**asdict(fitted), "threshold": plateau_middle(sweep)})
    similarity = cosines(tune)
    cosine_sweep = [
        (t, bcubed(tune_gold, regroup.average_linkage(tune.size, similarity, t))[2])
        for t in COSINE_THRESHOLDS
    ]
    cosine_threshold = plateau_middle(cosine_sweep)
    result["fit"] = {"model": asdict(fitted), "sample": sample, "sweep": sweep, "cosine_sweep": cosine_sweep}
    result["shipped"] = asdict(regroup.MODEL)
    print("fitted on the tuning half:   " + ", ".join(f"{k} {v:+.3f}" for k, v in asdict(fitted).items()))
    print(
        "shipped (regroup.MODEL):     " + ", ".join(f"{k} {v:+.3f}" for k, v in asdict(regroup.MODEL).items())
    )
    print(
        "regrouping CPU: " + ", ".join(f"{cpu[n]:.2f} s ({len(halves[n])} articles)" for n in measured) + "\n"
    )

    header = f"  {'':<44}{'thr':>6}{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}{'ARI':>8}{'groups':>8}"
    orders = 1 if args.quick else max(1, args.orders)
    for name in measured:
        mine = halves[name]
        gold, window = [d.story for d in mine], windows[name]
        rows = {
            "stage cosine, average linkage": {
                "threshold": cosine_threshold,
                **scores(gold, regroup.average_linkage(window.size, cosines(window), cosine_threshold)),
            },
            "regroup, shipped model": {
                "threshold": regroup.MODEL.threshold,
                **scores(
                    gold,
                    regroup.average_linkage(
                        window.size, judged(window, regroup.MODEL), regroup.MODEL.threshold
                    ),
                ),
            },
        }
        rows.update(stage_then_pass(mine, backgrounds[name], orders))
        result[name] = rows
        print(
            f"{'tuning' if name == 'tune' else name} half ({len(mine)} articles, {len(set(gold))} stories):\n{header}"
        )
        for label, row in rows.items():
            print(line(label, row))
        print()
    if args.tune_only:
        report_checks({}, result, "regroup_eval.json", started=started)
        return
    held_out = result["held-out"]["stage, then the regrouping pass"]
    checks = {
        f"stage + regrouping pass: B-cubed F1 >= {TARGETS['bcubed_f1']} (held-out)": held_out["f1"]
        >= TARGETS["bcubed_f1"],
        f"stage + regrouping pass: ARI >= {TARGETS['ari']} (held-out)": held_out["ari"] >= TARGETS["ari"],
    }
    report_checks(checks, result, "regroup_eval.json", started=started)


if __name__ == "__main__":
    main()
