"""Data loaders: contents, data-home resolution, cache invalidation."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import shutil
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Structure

from sklearn_bandgap.datasets import (
    DATA_ENV_VAR,
    find_data_file,
    load_mp_gap_eform,
    load_nrel_relaxation_pairs,
)
from sklearn_bandgap.datasets._cache import CacheWarning, cache_path, file_digest

MP_SAMPLE = "mp_gap_eform/mp_gap_eform_sample200.csv.gz"
NREL_SAMPLE = "nrel_relaxation_pairs/nrel_pairs_sample100.json.gz"


@pytest.fixture
def private_home(tmp_path):
    """A data home holding copies of the two samples (the tests may rewrite them)."""
    for relative in (MP_SAMPLE, NREL_SAMPLE):
        target = tmp_path / "data" / relative
        target.parent.mkdir(parents=True)
        shutil.copy(find_data_file(relative), target)
    return tmp_path / "data"


def test_mp_sample_contents(mp_sample):
    assert len(mp_sample.data) == 200 and all(isinstance(s, Structure) for s in mp_sample.data)
    assert mp_sample.target.shape == (200, 2)
    assert mp_sample.target_names == ["band_gap", "formation_energy_per_atom"]
    assert (mp_sample.target[:, 0] == 0).sum() == 100  # 100 metals by construction
    assert mp_sample.formula[0] == mp_sample.data[0].composition.reduced_formula
    assert all(m.startswith("mp-") for m in mp_sample.material_id)
    assert "cif" not in mp_sample.frame.columns
    assert max(len(s) for s in mp_sample.data) <= 30


def test_mp_return_X_y_and_bad_arguments():
    X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    assert len(X) == len(y) == 200 and y.ndim == 1
    with pytest.raises(ValueError, match="subset"):
        load_mp_gap_eform(subset="tiny")
    with pytest.raises(ValueError, match="target"):
        load_mp_gap_eform(subset="sample200", target="homo")


def test_mp_auxiliary_columns(mp_sample):
    """Fermi level and magnetization load as targets; per atom is |M| over the sites."""
    data = load_mp_gap_eform(
        subset="sample200",
        target=["efermi", "total_magnetization", "magnetization_per_atom"],
        progress=False,
    )
    assert data.target.shape == (200, 3)
    n_sites = np.array([len(s) for s in data.data])
    np.testing.assert_allclose(data.target[:, 2], np.abs(data.target[:, 1]) / n_sites)
    assert (data.target[:, 2] >= 0).all() and (data.target[:, 2] > 0).any()
    assert np.isfinite(data.target[:, 0]).sum() >= 198


def test_nrel_sample_contents(nrel_sample):
    assert len(nrel_sample.unrelaxed) == len(nrel_sample.relaxed) == 100
    assert nrel_sample.n_dropped == 0
    for unrelaxed, relaxed in zip(nrel_sample.unrelaxed, nrel_sample.relaxed, strict=True):
        assert [s.species_string for s in unrelaxed] == [s.species_string for s in relaxed]
    assert nrel_sample.target.dtype == np.float64 and (nrel_sample.target < 0).all()


def test_nrel_drops_pairs_whose_species_differ(private_home, tmp_path):
    path = private_home / NREL_SAMPLE
    with gzip.open(path, "rt") as handle:
        rows = json.load(handle)
    first = rows[0]["relaxed"]["sites"][0]["species"][0]
    first["element"] = "Kr" if first["element"] != "Kr" else "Xe"
    with gzip.open(path, "wt") as handle:
        json.dump(rows, handle)
    kwargs = dict(subset="sample100", data_home=private_home, cache_dir=tmp_path, progress=False)
    kept = load_nrel_relaxation_pairs(**kwargs)
    assert kept.n_dropped == 1 and len(kept.unrelaxed) == 99
    assert rows[0]["structure_id"] not in set(kept.structure_id)
    everything = load_nrel_relaxation_pairs(same_species_only=False, **kwargs)
    assert len(everything.unrelaxed) == 100 and everything.n_dropped == 0


def test_environment_variable_sets_the_data_home(private_home, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(private_home))
    assert find_data_file(MP_SAMPLE) == private_home / MP_SAMPLE


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mp_gap_eform(subset="sample200", data_home=tmp_path / "nowhere")
    message = str(info.value)
    assert MP_SAMPLE in message and str(tmp_path / "nowhere") in message
    assert DATA_ENV_VAR in message


def test_cache_is_used_then_rebuilt_when_the_source_changes(private_home, tmp_path):
    kwargs = dict(subset="sample200", data_home=private_home, cache_dir=tmp_path, progress=False)
    source = private_home / MP_SAMPLE
    first = load_mp_gap_eform(**kwargs)
    assert cache_path(source, tmp_path).is_file()
    again = load_mp_gap_eform(**kwargs)
    assert [s == t for s, t in zip(first.data, again.data, strict=True)] == [True] * 200
    np.testing.assert_array_equal(first.target, again.target)

    frame = pd.read_csv(source)
    frame.iloc[:150].to_csv(source, index=False)  # the source changes: 150 rows
    changed = load_mp_gap_eform(**kwargs)
    assert len(changed.data) == 150
    assert len(list(tmp_path.glob("mp_gap_eform_sample200-*.joblib"))) == 2


def test_cached_structures_equal_freshly_parsed(mp_sample):
    fresh = load_mp_gap_eform(subset="sample200", cache=False, progress=False)
    for cached, parsed in zip(mp_sample.data, fresh.data, strict=True):
        assert cached == parsed
        np.testing.assert_array_equal(cached.frac_coords, parsed.frac_coords)
        assert [s.label for s in cached] == [s.label for s in parsed]


# ------------------------------------------------------------------ the parse cache
def _sample_kwargs(private_home, cache_dir):
    return dict(subset="sample200", data_home=private_home, cache_dir=cache_dir, progress=False)


def test_a_damaged_cache_file_is_parsed_again_and_replaced(private_home, tmp_path):
    kwargs = _sample_kwargs(private_home, tmp_path)
    first = load_mp_gap_eform(**kwargs)
    path = cache_path(private_home / MP_SAMPLE, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit inside the arrays
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match="does not match its digest"):
        again = load_mp_gap_eform(**kwargs)
    np.testing.assert_array_equal(again.target, first.target)
    assert [s == t for s, t in zip(first.data, again.data, strict=True)] == [True] * 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # replaced: silent from now on
        load_mp_gap_eform(**kwargs)


def test_a_foreign_cache_file_with_a_valid_digest_is_replaced(private_home, tmp_path):
    kwargs = _sample_kwargs(private_home, tmp_path)
    path = cache_path(private_home / MP_SAMPLE, tmp_path)
    joblib.dump({"something": "else"}, path)
    path.with_name(path.name + ".sha256").write_text(file_digest(path))
    with pytest.warns(CacheWarning, match="does not hold the expected data"):
        data = load_mp_gap_eform(**kwargs)
    assert len(data.data) == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert len(load_mp_gap_eform(**kwargs).data) == 200


def test_a_cache_folder_that_cannot_be_made_or_written_costs_a_warning(
    private_home, tmp_path, monkeypatch
):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(CacheWarning, match="cannot be created"):
        data = load_mp_gap_eform(**_sample_kwargs(private_home, blocker / "cache"))
    assert len(data.data) == 200

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(joblib, "dump", refuse)
    with pytest.warns(CacheWarning, match="cannot write the cache file"):
        data = load_mp_gap_eform(**_sample_kwargs(private_home, tmp_path / "readonly"))
    assert len(data.data) == 200


def test_temporary_files_of_killed_writers_are_removed(private_home, tmp_path):
    path = cache_path(private_home / MP_SAMPLE, tmp_path)
    stale = [path.with_name(path.name + ".tmp4242"), path.with_suffix(".tmp4243")]
    for leftover in stale:
        leftover.write_bytes(b"half a cache")
    load_mp_gap_eform(**_sample_kwargs(private_home, tmp_path))
    assert not any(leftover.exists() for leftover in stale)


def _slow_build(log: str) -> dict:
    with open(log, "a") as handle:
        handle.write("built\n")
    time.sleep(1.0)
    return {"value": 42}


def _load_in_another_process(source: str, cache_dir: str, log: str) -> dict:
    from sklearn_bandgap.datasets._cache import load_or_build

    return load_or_build(
        Path(source), lambda: _slow_build(log), cache_dir=cache_dir, validate=lambda o: "value" in o
    )


def test_concurrent_first_loads_parse_once(tmp_path):
    source = tmp_path / "source.csv"
    source.write_text("a,b\n1,2\n")
    log = tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(
            _load_in_another_process, [(str(source), str(tmp_path / "cache"), str(log))] * 2
        )
    assert results == [{"value": 42}, {"value": 42}]
    assert log.read_text().count("built") == 1


def test_cache_folder_follows_the_setting_then_the_platform(tmp_path, monkeypatch):
    from sklearn_bandgap.datasets import CACHE_ENV_VAR, get_cache_dir

    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "mine"))
    assert get_cache_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    monkeypatch.delenv(CACHE_ENV_VAR)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert get_cache_dir() == tmp_path / "xdg" / "sklearn_bandgap"
    assert get_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
