"""The fast CIF path against pymatgen's CifParser on every MP CIF: equality and speed.

For each of the 33,144 CIFs of the MP set: read by ``sklearn_bandgap.utils._cif``
(gemmi for plain P1 CIFs) and by ``Structure.from_str(cif, fmt="cif")``; the
two must give the same lattice (bit for bit) and the same sites (species and
fractional coordinates, bit for bit, in any order). Times both on one core.
Writes ``benchmarks/results/cif_reader/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import cpu_model, git_commit, write_record
from pymatgen.core import Structure

from sklearn_bandgap.datasets import find_data_file
from sklearn_bandgap.utils._cif import _gemmi_p1, read_cif

RESULTS = Path(__file__).parent / "results" / "cif_reader"


def sites(structure: Structure) -> np.ndarray:
    """Atomic numbers and fractional coordinates, rows sorted: the structure up to order."""
    rows = np.column_stack([structure.atomic_numbers, structure.frac_coords])
    return rows[np.lexsort(rows.T[::-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="first n CIFs only")
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cifs = pd.read_csv(find_data_file("mp_gap_eform/mp_gap_eform.csv.gz"))["cif"].tolist()
    cifs = cifs[: args.n] if args.n else cifs

    start = time.perf_counter()
    fast = [read_cif(text) for text in cifs]
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = [Structure.from_str(text, fmt="cif") for text in cifs]
    pymatgen_s = time.perf_counter() - start

    fast_path = sum(_gemmi_p1(text) is not None for text in cifs)
    lattice_diff = [
        i
        for i, (a, b) in enumerate(zip(fast, reference, strict=True))
        if not np.array_equal(a.lattice.matrix, b.lattice.matrix)
    ]
    site_diff = [
        i
        for i, (a, b) in enumerate(zip(fast, reference, strict=True))
        if not np.array_equal(sites(a), sites(b))
    ]
    same_order = sum(
        np.array_equal(a.atomic_numbers, b.atomic_numbers)
        for a, b in zip(fast, reference, strict=True)
    )
    record = {
        "benchmark": "cif_reader",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "note": "one core, one run"},
        "versions": {p: version(p) for p in ("pymatgen", "gemmi")},
        "n_cifs": len(cifs),
        "read_by_the_fast_path": fast_path,
        "different_lattices": len(lattice_diff),
        "different_site_sets": len(site_diff),
        "same_site_order": same_order,
        "seconds": {"fast": round(fast_s, 2), "pymatgen": round(pymatgen_s, 2)},
        "ms_per_cif": {
            "fast": round(1e3 * fast_s / len(cifs), 3),
            "pymatgen": round(1e3 * pymatgen_s / len(cifs), 3),
        },
        "speed_up": round(pymatgen_s / fast_s, 1),
        "first_differences": {"lattice": lattice_diff[:10], "sites": site_diff[:10]},
    }
    print(record)
    write_record(
        RESULTS / (args.run or datetime.now(UTC).strftime("%Y-%m-%d")) / "record.json", record
    )


if __name__ == "__main__":
    main()
