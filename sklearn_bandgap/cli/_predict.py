"""``sklearn-bandgap predict``: a CSV of predictions for structure files, streamed in chunks."""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from sklearn_bandgap.cli._errors import EXIT_OK, EXIT_SOME_FAILED, UsageError
from sklearn_bandgap.screening._chunks import (
    ModelSpec,
    predict_chunk,
    predict_stream,
    resolve_model,
)
from sklearn_bandgap.screening._sources import iter_items
from sklearn_bandgap.utils._files import publish


def _list_models(out: TextIO) -> int:
    from sklearn_bandgap.metrics import headline_figures
    from sklearn_bandgap.pretrained import list_pretrained, model_card

    for name in list_pretrained():
        card = model_card(name)
        mae = headline_figures(card["test"])["mae"]
        unit = card["outputs"][0]["unit"]
        out.write(
            f"{name}: {card['description']}; test MAE {mae:.3f} {unit} "
            f"({card['split']['n_test']} structures of unseen formulas)\n"
        )
    return 0


def _checked_output(output: str) -> Path | None:
    """The output path, checked before any work (None: standard output)."""
    if output == "-":
        return None
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"-o {output}: is a folder; name a file, e.g. {path / 'predictions.csv'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"-o {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"-o {output}: cannot write in the folder {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"-o {output}: the file exists and is read-only")
    return path


@contextlib.contextmanager
def _atomic_output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or a temporary file beside ``path`` renamed to it only when complete.

    An interrupted or failed run removes the temporary file and leaves an
    existing ``path`` as it was.
    """
    if path is None:
        yield sys.stdout
        return
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".partial", dir=path.parent if str(path.parent) else "."
    )
    try:
        with open(handle, "w", newline="", encoding="utf-8") as out:
            yield out
        publish(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _specs(args: argparse.Namespace) -> list[ModelSpec]:
    """The models to apply, each once (``--formation-energy`` beside that model adds nothing)."""
    from sklearn_bandgap.io import ModelFileError
    from sklearn_bandgap.pretrained import DEFAULT_MODEL

    names = [args.model or DEFAULT_MODEL]
    if args.formation_energy:
        names.append("formation_energy_mp2018")
    specs: list[ModelSpec] = []
    for name in names:
        try:
            spec = resolve_model(name)
        except ModelFileError as exc:
            raise UsageError(f"--model: {exc}") from None
        if all(Path(spec.path).resolve() != Path(known.path).resolve() for known in specs):
            specs.append(spec)
    return specs


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap predict``."""
    if args.list_models:
        return _list_models(sys.stdout)
    if not args.inputs:
        raise UsageError("no inputs: name files, folders, patterns or tables (or --list-models)")
    if args.n_jobs == 0:
        raise UsageError("--n-jobs 0: use a positive number of processes, or -1 for all cores")
    if args.chunk_size < 1:
        raise UsageError(f"--chunk-size {args.chunk_size}: use a positive number")
    from tqdm.auto import tqdm

    from sklearn_bandgap.cli._interrupt import raise_if_interrupted

    target = _checked_output(args.output)
    specs = _specs(args)
    skipped: list[str] = []
    items = iter_items(
        args.inputs,
        structure_column=args.structure_column,
        id_column=args.id_column,
        recursive=args.recursive,
        skipped=skipped,
    )
    client = None
    if args.scheduler:
        from distributed import Client

        from sklearn_bandgap.screening import predict_stream_dask

        client = Client(args.scheduler)
        stream = predict_stream_dask(specs, items, client, chunk_size=args.chunk_size)
    else:
        stream = predict_stream(specs, items, n_jobs=args.n_jobs, chunk_size=args.chunk_size)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    failures: list[list[Any]] = []
    n_rows = 0
    try:
        with _atomic_output(target) as out:
            writer = csv.writer(out)
            header: list[str] | None = None
            with tqdm(unit=" structures", disable=not progress, file=sys.stderr) as bar:
                for columns, rows in stream:
                    raise_if_interrupted()  # a Ctrl-C some library swallowed
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
        if client is not None:
            client.close()
    where = "" if target is None else f" to {target}"
    print(
        f"{n_rows - len(failures)} of {n_rows} structures predicted{where}"
        + (f"; {len(failures)} failed (their error column says why):" if failures else "."),
        file=sys.stderr,
    )
    for row in failures[:10]:
        print(f"  {row[0]}: {row[-1]}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    if skipped:
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        print(
            f"Skipped {len(skipped)} file(s) in folders whose names are not structure files "
            f"({shown}); name such files on the command line to read them by content.",
            file=sys.stderr,
        )
    return EXIT_SOME_FAILED if failures or n_rows == 0 else EXIT_OK
