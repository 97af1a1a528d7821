"""``sklearn-bandgap translate``: unrelaxed structures -> predicted relaxed ones, as CIF files.

``--train`` fits a :class:`~sklearn_bandgap.translation.RelaxationTranslator`
(defaults, seed 0) on the training part of the project's formula-group split of
the NREL pairs (the test part is kept for its figures, printed at the end) and
``--save`` keeps it; ``--model`` applies a saved translator to the inputs,
writing ``<output-dir>/<n>_<formula>.cif`` per structure and ``translated.csv``
(input id, formula, volume before and after, output file, warning, error).
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from typing import Any

from sklearn_bandgap.screening._sources import iter_items, parse_item


def _train(args: argparse.Namespace) -> Any:
    from sklearn.utils import Bunch

    from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    from sklearn_bandgap.io import save
    from sklearn_bandgap.model_selection import formula_group_split
    from sklearn_bandgap.translation import (
        RelaxationTranslator,
        agreement_summary,
        structure_agreement,
    )

    pairs = load_nrel_relaxation_pairs(n_jobs=-1, progress=False)
    assert isinstance(pairs, Bunch)
    train, test = formula_group_split(pairs.formula)
    print(
        f"Training a RelaxationTranslator on {len(train)} NREL pairs "
        f"({len(test)} pairs of other formulas kept for the figures)...",
        flush=True,
    )
    translator = RelaxationTranslator(random_state=0, max_epochs=args.max_epochs, verbose=1)
    translator.fit([pairs.unrelaxed[i] for i in train], relaxed=[pairs.relaxed[i] for i in train])
    translator.set_params(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        translated = translator.transform([pairs.unrelaxed[i] for i in test])
    summary = agreement_summary(structure_agreement(translated, [pairs.relaxed[i] for i in test]))
    print(f"Test pairs (formulas never seen): {summary}")
    if args.save is not None:
        save(translator, args.save, metadata={"kind": "translator", "test": summary})
        print(f"Saved the translator to {args.save}")
    return translator


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap translate``."""
    if args.train:
        translator = _train(args)
    elif args.model is not None:
        from sklearn_bandgap.io import load

        translator = load(args.model)
    else:
        print("translate: give --model FILE (a saved translator) or --train.", file=sys.stderr)
        return 2
    if not args.inputs:
        return 0
    args.output_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    with open(args.output_dir / "translated.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "formula", "volume_in", "volume_out", "file", "warning", "error"])
        items = iter_items(
            args.inputs, structure_column=args.structure_column, recursive=args.recursive
        )
        n = 0
        for item in items:
            try:
                parsed = parse_item(item)
            except Exception as exc:
                failed += 1
                writer.writerow([item.id, "", "", "", "", "", " ".join(str(exc).split())[:300]])
                continue
            for row_id, structure in parsed:
                try:
                    if isinstance(structure, Exception):
                        raise structure
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        (out,) = translator.transform([structure])
                    formula = structure.composition.reduced_formula
                    name = f"{n:06d}_{formula}.cif"
                    n += 1
                    out.to(filename=str(args.output_dir / name))
                    note = "; ".join(str(w.message).splitlines()[0] for w in caught)
                    writer.writerow(
                        [
                            row_id,
                            formula,
                            f"{structure.volume:.3f}",
                            f"{out.volume:.3f}",
                            name,
                            note,
                            "",
                        ]
                    )
                except Exception as exc:
                    failed += 1
                    writer.writerow([row_id, "", "", "", "", "", " ".join(str(exc).split())[:300]])
    print(f"Wrote {args.output_dir / 'translated.csv'} ({failed} failed).", file=sys.stderr)
    return 1 if failed else 0
