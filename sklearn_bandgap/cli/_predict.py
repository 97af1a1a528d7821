"""``sklearn-bandgap predict``: a CSV of predictions for structure files, streamed in chunks."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any, TextIO

from sklearn_bandgap.screening._chunks import predict_chunk, predict_stream, resolve_model
from sklearn_bandgap.screening._sources import iter_items


def _list_models(out: TextIO) -> int:
    from sklearn_bandgap.pretrained import list_pretrained, model_card

    for name in list_pretrained():
        card = model_card(name)
        test = card["test"]
        mae = test["all"]["mae"] if "all" in test else test["mae"]
        unit = card["outputs"][0]["unit"]
        out.write(
            f"{name}: {card['description']}; test MAE {mae:.3f} {unit} "
            f"({card['split']['n_test']} structures of unseen formulas)\n"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap predict``."""
    if args.list_models:
        return _list_models(sys.stdout)
    from tqdm.auto import tqdm

    from sklearn_bandgap.pretrained import DEFAULT_MODEL

    names = [args.model or DEFAULT_MODEL]
    if args.formation_energy:
        names.append("formation_energy_mp2018")
    specs = [resolve_model(name) for name in names]
    items = iter_items(
        args.inputs,
        structure_column=args.structure_column,
        id_column=args.id_column,
        recursive=args.recursive,
    )
    chunk_size = max(args.chunk_size, 1)
    client = None
    if args.scheduler:
        from distributed import Client

        from sklearn_bandgap.screening import predict_stream_dask

        client = Client(args.scheduler)
        stream = predict_stream_dask(specs, items, client, chunk_size=chunk_size)
    else:
        stream = predict_stream(specs, items, n_jobs=args.n_jobs, chunk_size=chunk_size)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    failures: list[list[Any]] = []
    n_rows = 0
    try:
        writer = csv.writer(out)
        header: list[str] | None = None
        with tqdm(unit=" structures", disable=not progress, file=sys.stderr) as bar:
            for columns, rows in stream:
                if header is None:
                    header = columns
                    writer.writerow(header)
                writer.writerows(rows)
                out.flush()
                n_rows += len(rows)
                failures.extend(row for row in rows if row[-1])
                bar.update(len(rows))
        if header is None:  # no input at all: the header alone
            writer.writerow(predict_chunk(specs, [])[0])
    finally:
        if out is not sys.stdout:
            out.close()
        if client is not None:
            client.close()
    where = "" if args.output == "-" else f" to {args.output}"
    print(
        f"{n_rows - len(failures)} of {n_rows} structures predicted{where}"
        + (f"; {len(failures)} failed (their error column says why):" if failures else "."),
        file=sys.stderr,
    )
    for row in failures[:10]:
        print(f"  {row[0]}: {row[-1]}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    return 1 if failures or n_rows == 0 else 0
