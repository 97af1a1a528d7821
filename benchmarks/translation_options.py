"""Compare RelaxationTranslator settings on a selection split inside the training part.

The project's split (formula groups, 10 %, seed 0) holds out the test pairs; its
training part is split again (formula groups, 10 %, seed 1) into fit and
selection pairs. Settings are compared on the selection pairs only, so the test
figures of ``translation_nrel.py`` stay unbiased. Writes
``benchmarks/results/translation_options/default/record.json``, merged: a run replaces an
earlier run of the same settings and keeps the others (each run has its date).

Usage::

    python benchmarks/translation_options.py "" "lr=1e-3, patience=20, max_epochs=150"
    python benchmarks/translation_options.py "" --ensemble-seeds 0 1 2 --n-jobs 2

With ``--ensemble-seeds``, each setting is a ``SeedEnsembleTranslator`` of one
translator per seed (the run's settings record the seeds); the record gives each
member's figures too.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import torch
from _machine import cpu_model, write_record

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.translation import (
    RelaxationTranslator,
    SeedEnsembleTranslator,
    agreement_summary,
    structure_agreement,
)

RESULTS = Path(__file__).parent / "results" / "translation_options" / "default" / "record.json"


def parse_settings(text):
    """``"a=1, b=x"`` -> ``{"a": 1, "b": "x"}`` (values read as Python literals)."""
    settings = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            settings[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            settings[name.strip()] = value.strip()
    return settings


def merge_runs(earlier, new):
    """``earlier`` runs whose settings no ``new`` run has, then the ``new`` runs."""
    new_settings = [run["settings"] for run in new]
    return [run for run in earlier if run["settings"] not in new_settings] + new


def ensemble_run(settings, seeds, args, U_fit, R_fit, U_sel, R_sel):
    start = time.perf_counter()
    ensemble = SeedEnsembleTranslator(
        RelaxationTranslator(**settings), random_states=seeds, n_jobs=args.n_jobs
    ).fit(U_fit, relaxed=R_fit)
    members = ensemble.estimators_
    member_figures = [
        {"seed": seed, **agreement_summary(structure_agreement(member.transform(U_sel), R_sel))}
        for seed, member in zip(seeds, members, strict=True)
    ]
    return {
        "settings": {**settings, "ensemble_seeds": list(seeds)},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "fit_s": round(time.perf_counter() - start, 1),
        "n_jobs": args.n_jobs,
        "epochs": [len(member.net_.history) for member in members],
        **agreement_summary(structure_agreement(ensemble.transform(U_sel), R_sel)),
        "members": member_figures,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help='e.g. "" (defaults) or "lr=1e-3, hidden=96"')
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ensemble-seeds", type=int, nargs="+", default=None)
    parser.add_argument("--n-jobs", type=int, default=1, help="ensemble members in parallel")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    pairs = load_nrel_relaxation_pairs(progress=False)
    train, _ = formula_group_split(pairs.formula)
    inner_fit, inner_selection = formula_group_split(pairs.formula[train], random_state=1)
    fit, selection = train[inner_fit], train[inner_selection]
    U_fit, R_fit = [pairs.unrelaxed[i] for i in fit], [pairs.relaxed[i] for i in fit]
    U_sel, R_sel = [pairs.unrelaxed[i] for i in selection], [pairs.relaxed[i] for i in selection]
    runs = []
    for text in args.settings:
        settings = parse_settings(text)
        if args.ensemble_seeds:
            runs.append(
                ensemble_run(settings, args.ensemble_seeds, args, U_fit, R_fit, U_sel, R_sel)
            )
            print(runs[-1], flush=True)
            continue
        start = time.perf_counter()
        translator = RelaxationTranslator(random_state=0, **settings)
        translator.fit(U_fit, relaxed=R_fit)
        table = structure_agreement(translator.transform(U_sel), R_sel)
        history = translator.net_.history
        runs.append(
            {
                "settings": settings,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "fit_s": round(time.perf_counter() - start, 1),
                "epochs": len(history),
                "best_valid_loss": float(min(history[:, "valid_loss"])),
                **agreement_summary(table),
            }
        )
        print(runs[-1], flush=True)
    earlier = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    write_record(
        RESULTS,
        {
            "benchmark": "translation_options",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpu": cpu_model(), "cores": 2, "torch_threads": args.threads},
            "split": (
                "NREL pairs; project split (formula groups 10 %, seed 0), then its training "
                f"part split again (formula groups 10 %, seed 1): {len(fit)} fit / "
                f"{len(selection)} selection pairs; test pairs unused"
            ),
            "runs": merge_runs(earlier, runs),
        },
    )


if __name__ == "__main__":
    main()
