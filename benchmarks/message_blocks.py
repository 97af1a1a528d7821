"""Message layers in blocks of rows: prediction time of the shipped formation-energy model.

:class:`~sklearn_bandgap.models._module.NeighborMessages` works through its rows in
blocks of ``MESSAGE_BLOCK_ROWS``; a batch of large crystals otherwise makes
per-neighbour temporaries of tens of MB. This times ``predict`` of the shipped
``formation_energy_mp2018`` regressor (4 members, two message layers) on the
neighbour lists of the first N structures of the MP set, one torch thread, for
the whole batch at once and for the shipped block size, alternating, best of
``--repeats``; the predictions must be equal. The band-gap model (no message
layers) is timed beside it for the ratio.

Writes ``benchmarks/results/message_blocks/<run>/record.json``.

Usage::

    python benchmarks/message_blocks.py --run 2026-12-05
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _machine import run_dir, write_record

import sklearn_bandgap.models._module as module_code
from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.pretrained import load_pretrained


def best_time(regressor, lists, repeats: int) -> tuple[float, np.ndarray]:
    best, predicted = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        predicted = regressor.predict(lists)
        best = min(best, time.perf_counter() - start)
    return best, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="structures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    structures = list(load_mp_gap_eform(progress=False).data[: args.n])
    shipped = module_code.MESSAGE_BLOCK_ROWS
    figures: dict[str, float] = {}
    predictions: dict[str, np.ndarray] = {}
    for name in ("band_gap_mp2018", "formation_energy_mp2018"):
        model = load_pretrained(name)
        lists = model[:-1].transform(structures)
        regressor = model[-1]
        regressor.predict(lists[:50])  # warm up
        settings = (
            {"": shipped}
            if name == "band_gap_mp2018"
            else {"_whole_batch": 10**9, "_blocks": shipped}
        )
        for _ in range(2):  # alternate, so that drifts of the machine hit both
            for suffix, block in settings.items():
                module_code.MESSAGE_BLOCK_ROWS = block
                seconds, predicted = best_time(regressor, lists, args.repeats)
                key = f"{name}{suffix}_seconds"
                figures[key] = round(min(figures.get(key, np.inf), seconds), 3)
                predictions[key] = predicted
        module_code.MESSAGE_BLOCK_ROWS = shipped
    difference = float(
        np.abs(
            predictions["formation_energy_mp2018_blocks_seconds"]
            - predictions["formation_energy_mp2018_whole_batch_seconds"]
        ).max()
    )
    n_members = {"band_gap_mp2018": 5, "formation_energy_mp2018": 4}
    record = {
        "benchmark": "message_blocks",
        "data": f"neighbour lists of the first {args.n} structures of the MP set",
        "torch_threads": 1,
        "block_rows": shipped,
        "figures": figures,
        "per_member_seconds": {
            "band_gap_mp2018 (no message layers)": round(
                figures["band_gap_mp2018_seconds"] / n_members["band_gap_mp2018"], 3
            ),
            "formation_energy_mp2018, whole batch": round(
                figures["formation_energy_mp2018_whole_batch_seconds"] / 4, 3
            ),
            "formation_energy_mp2018, blocks": round(
                figures["formation_energy_mp2018_blocks_seconds"] / 4, 3
            ),
        },
        "speedup_of_blocks": round(
            figures["formation_energy_mp2018_whole_batch_seconds"]
            / figures["formation_energy_mp2018_blocks_seconds"],
            2,
        ),
        "largest_prediction_difference": difference,
    }
    print(record)
    write_record(run_dir("message_blocks", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
