"""Screening on a Dask cluster: same rows as one process, bad files named, dead workers survived."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402

from sklearn_bandgap.cli import main  # noqa: E402
from sklearn_bandgap.io import save  # noqa: E402
from sklearn_bandgap.models import NeighborLSTMRegressor  # noqa: E402
from sklearn_bandgap.screening import predict_dask, predict_stream_dask, rows_to_frame  # noqa: E402
from sklearn_bandgap.screening._chunks import chunks, predict_chunk, resolve_model  # noqa: E402
from sklearn_bandgap.screening._sources import Item, iter_items  # noqa: E402

N_FILES = 30


@pytest.fixture(scope="module")
def client():
    # LocalCluster writes OMP_NUM_THREADS=1, PYTHONHASHSEED and others into this
    # process's environment; later tests start subprocesses that must not inherit them
    saved = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def model_path(mp_sample, tmp_path_factory):
    from sklearn.pipeline import make_pipeline

    from sklearn_bandgap.featurizers import NeighborListFeaturizer

    model = make_pipeline(
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(atom_hidden=8, crystal_hidden=8, head_hidden=8, max_epochs=2),
    ).fit(mp_sample.data, mp_sample.target[:, 0])
    path = tmp_path_factory.mktemp("model") / "gap.safetensors"
    return str(save(model, path, metadata={"outputs": [{"name": "band_gap", "unit": "eV"}]}))


@pytest.fixture(scope="module")
def folder(mp_sample, tmp_path_factory):
    """30 CIF files of the MP sample and one that cannot be read, in the middle."""
    root = tmp_path_factory.mktemp("cifs")
    for k in range(N_FILES):
        mp_sample.data[k].to(filename=str(root / f"s{k:03d}.cif"))
    (root / "s015_broken.cif").write_text("data_broken\n_cell_length_a 3.0\n")
    return root


def _paths(folder):
    return sorted(str(p) for p in folder.iterdir())


def _single_process(model_path, items):
    header, rows = predict_chunk([resolve_model(model_path)], items)
    return rows_to_frame(header, rows)


def _assert_same_rows(got, expected):
    assert list(got.columns) == list(expected.columns)
    got, expected = got.reset_index(drop=True), expected.reset_index(drop=True)
    text = ["id", "formula", "warning", "error"]  # Dask may hold them as Arrow strings
    pd.testing.assert_frame_equal(got[text].astype(object), expected[text].astype(object))
    np.testing.assert_allclose(got["band_gap"], expected["band_gap"], rtol=1e-6, atol=1e-6)


def test_a_bag_of_paths_gives_the_single_process_rows(client, model_path, folder):
    paths = _paths(folder)
    predictions = predict_dask(db.from_sequence(paths, npartitions=4), model_path)
    got = predictions.compute()  # on the cluster: the client is the default scheduler
    expected = _single_process(model_path, [Item(p, p) for p in paths])
    _assert_same_rows(got, expected)
    broken = got[got.id.str.endswith("s015_broken.cif")].iloc[0]
    assert broken.error.startswith("cannot read") and np.isnan(broken.band_gap)
    assert (got.error == "").sum() == N_FILES  # every other file predicted


def test_a_dataframe_of_cif_texts_keeps_its_ids_and_writes_parquet(
    client, model_path, folder, tmp_path
):
    paths = _paths(folder)
    table = pd.DataFrame(
        {"name": [f"row{k}" for k in range(len(paths))], "cif": [open(p).read() for p in paths]}
    )
    frame = dd.from_pandas(table, npartitions=3)
    predictions = predict_dask(frame, model_path, structure_column="cif", id_column="name")
    predictions.to_parquet(tmp_path / "out")
    got = pd.read_parquet(tmp_path / "out")
    assert list(got.id) == list(table.name)
    assert got.error.str.startswith("cannot read").sum() == 1
    with pytest.raises(ValueError, match="no column 'structure'"):
        predict_dask(frame, model_path)
    with pytest.raises(TypeError, match=r"dask\.bag\.Bag or a dask\.dataframe\.DataFrame"):
        predict_dask(paths, model_path)


def test_a_worker_killed_mid_run_loses_and_repeats_no_row(client, model_path, folder):
    paths = _paths(folder)
    specs = [resolve_model(model_path)]
    items = [Item(p, p) for p in paths]
    stream = predict_stream_dask(specs, items, client, chunk_size=2, max_pending=6)
    ids = []
    _, rows = next(stream)
    ids += [row[0] for row in rows]
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)  # a crash, mid-run: the nanny restarts the worker
    for _, rows in stream:
        ids += [row[0] for row in rows]
    assert ids == paths  # every row once, in input order
    deadline = time.monotonic() + 60
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(client.scheduler_info()["workers"]) == 2  # the cluster healed


def test_command_line_scheduler_gives_the_local_output(client, model_path, folder, tmp_path):
    local, remote = tmp_path / "local.csv", tmp_path / "remote.csv"
    arguments = ["predict", str(folder), "--model", model_path, "--chunk-size", "4"]
    assert main([*arguments, "-o", str(local)]) == 1  # the broken file
    address = client.scheduler.address
    assert main([*arguments, "-o", str(remote), "--scheduler", address]) == 1
    read = {"keep_default_na": False}
    _assert_same_rows(
        rows_to_frame(*_csv(pd.read_csv(remote, **read))),
        rows_to_frame(*_csv(pd.read_csv(local, **read))),
    )


def _csv(frame):
    return list(frame.columns), frame.astype(str).values.tolist()


def test_chunks_stream_items_lazily():
    produced = []

    def items():
        for k in range(100):
            produced.append(k)
            yield Item(str(k), error="x")

    stream = chunks(items(), 10)
    next(stream)
    assert len(produced) <= 33  # the first, small chunk; nothing read far ahead
    assert list(iter_items([])) == []


def test_a_bag_of_structures_with_ids(client, model_path, mp_sample):
    pairs = [(f"mp{k}", mp_sample.data[k]) for k in range(6)]
    got = predict_dask(db.from_sequence(pairs, npartitions=2), model_path).compute()
    assert list(got.id) == [f"mp{k}" for k in range(6)]
    expected = _single_process(model_path, [Item(i, s, "structure") for i, s in pairs])
    _assert_same_rows(got, expected)
