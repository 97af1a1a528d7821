"""Does the shipped models' recipe reproduce? Their cards against earlier runs of the same recipe.

The shipped band-gap model is the seed ensemble (0, 1, 2) of multi-task
``NeighborLSTMRegressor`` members, the formation-energy model the ensemble
(0, 4, 1, 2) of single-task members, all trained on the project's split with
one torch thread each. The same recipe was run before, member by member, by
``benchmarks/train_mp.py`` (``ensemble_mp/multitask`` and
``ensemble_mp/default``, 2026-11-23). This script puts each card's figures (the
shipped ensemble and each member) beside those earlier runs' and records the
differences. The goal: the band-gap ensemble within 0.005 eV.

Writes ``benchmarks/results/pretrained_reproduction/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_model, git_commit, write_record

from sklearn_bandgap.pretrained import model_card

RESULTS = Path(__file__).parent / "results"
EARLIER = {
    "band_gap_mp2018": ("ensemble_mp/multitask/record.json", "band_gap"),
    "formation_energy_mp2018": ("ensemble_mp/default/record.json", "formation_energy_per_atom"),
}


def mae(report: dict) -> float:
    return float(report["all"]["mae"] if "all" in report else report["mae"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    record: dict = {
        "benchmark": "pretrained_reproduction",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "note": "compares records; trains nothing"},
        "models": {},
    }
    for name, (file, target) in EARLIER.items():
        card = model_card(name)
        earlier = json.loads((RESULTS / file).read_text())
        result = earlier["results"][target]
        members_before = {m["random_state"]: m for m in result["members"].values()}
        members = []
        for member in card["members"]:
            before = members_before[member["random_state"]]
            members.append(
                {
                    "random_state": member["random_state"],
                    "test_mae_shipped": member["test_mae"],
                    "test_mae_earlier": mae(before["test"]),
                    "epochs_shipped": member["epochs"],
                    "epochs_earlier": before["epochs"],
                }
            )
        shipped, before = mae(card["test"]), mae(result["ensemble"]["test"])
        record["models"][name] = {
            "earlier_record": f"benchmarks/results/{file}",
            "earlier_machine": earlier["machine"]["cpu"],
            "shipped_machine": card["training"]["machine"]["cpu"],
            "ensemble_test_mae_shipped": shipped,
            "ensemble_test_mae_earlier": before,
            "difference": round(shipped - before, 5),
            "within_0.005": abs(shipped - before) <= 0.005,
            "members": members,
        }
        print(name, json.dumps(record["models"][name], indent=1))
    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / "pretrained_reproduction" / run / "record.json", record)


if __name__ == "__main__":
    main()
