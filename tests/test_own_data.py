"""Your own data: a table of structures and targets, read, trained on and tuned on."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

from sklearn_bandgap.cli import main
from sklearn_bandgap.datasets import load_table
from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.io import read_metadata


@pytest.fixture(scope="module")
def table(mp_sample, tmp_path_factory):
    """A gzipped CSV of the sample: CIF text, paths and dicts; two targets of other names."""
    folder = tmp_path_factory.mktemp("own")
    structures = list(mp_sample.data)
    cells: list[str] = [s.to(fmt="cif") for s in structures]
    (folder / "first.vasp").write_text(structures[0].to(fmt="poscar"))
    cells[0] = "first.vasp"  # a path relative to the table
    cells[1] = json.dumps(structures[1].as_dict())  # a pymatgen dict
    frame = pd.DataFrame(
        {
            "Structure": cells,
            "ind_gap": mp_sample.target[:, 0],
            "e_f": mp_sample.target[:, 1],
            "family": [f"f{k % 40}" for k in range(len(cells))],
        }
    )
    path = folder / "mine.csv.gz"
    frame.to_csv(path, index=False)
    return path


def test_load_table_reads_every_cell_kind_and_names_bad_rows(table, mp_sample, tmp_path):
    data = load_table(table, target=["ind_gap", "e_f"])
    assert data.structure_column == "Structure" and data.target_names == ["ind_gap", "e_f"]
    assert data.target.shape == (200, 2) and len(data.data) == 200
    np.testing.assert_allclose(data.target, mp_sample.target)
    assert data.groups[0] == mp_sample.data[0].composition.reduced_formula
    grouped = load_table(table, target="ind_gap", group_column="family")
    assert grouped.target.shape == (200,) and grouped.groups[3] == "f3"
    frame = pd.read_csv(table)
    frame.loc[5, "ind_gap"] = "n/a"
    frame.loc[7, "Structure"] = "data_broken\n_cell_length_a 3\n"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"'ind_gap' is not a finite number in 1 row\(s\): 5"):
        load_table(tmp_path / "bad.csv", target="ind_gap")
    with pytest.raises(InvalidStructureError, match="structure 7"):
        load_table(tmp_path / "bad.csv", target="e_f")
    with pytest.raises(ValueError, match=r"no column 'gap'; columns: \['Structure'"):
        load_table(table, target="gap")


def test_train_command_on_a_table_names_outputs_after_the_targets(table, tmp_path, capsys):
    saved = tmp_path / "mine.safetensors"
    argv = ["train", str(table), "--target", "ind_gap", "--target", "e_f", "--unit", "eV"]
    argv += ["--max-epochs", "2", "--save", str(saved), "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Loaded 200 structures of" in printed and "ind_gap, all structures: MAE" in printed
    assert "e_f (trained in the same model)" in printed
    outputs = read_metadata(saved)["metadata"]["outputs"]
    assert outputs == [{"name": "ind_gap", "unit": "eV"}, {"name": "e_f", "unit": ""}]
    assert (tmp_path / "out" / "parity_ind_gap.png").is_file()
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["target"] == "ind_gap" and figures["auxiliary_targets"] == ["e_f"]
    # no --target, or a column the table lacks: one line, exit 2
    assert main(["train", str(table)]) == 2
    assert "name the column(s) to learn with --target" in capsys.readouterr().err
    assert main(["train", str(table), "--target", "gap"]) == 2
    assert "no column 'gap'" in capsys.readouterr().err
    assert main(["train", "--target", "ind_gap"]) == 2  # the MP set has no such column
    assert "the MP set has" in capsys.readouterr().err


def test_tune_command_on_a_table_with_groups_and_two_targets(table, tmp_path, capsys):
    argv = ["tune", str(table), "--target", "e_f", "--target", "ind_gap"]
    argv += ["--group-column", "family", "--storage", str(tmp_path / "study.log")]
    argv += ["--study-name", "own", "--n-trials", "1", "--max-epochs", "1"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_complete"] == 1 and summary["best_validation_mae"] > 0


def test_train_command_fine_tunes_from_a_shipped_model(table, tmp_path, capsys):
    argv = ["train", str(table), "--target", "e_f", "--init", "band_gap_mp2018"]
    argv += ["--max-epochs", "1", "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "Starting from the network of band_gap_mp2018" in capsys.readouterr().out
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["model_params"]["init"] == "band_gap_mp2018"
    assert main([*argv[:4], "--init", "no_such_model"]) == 2
    assert "--init: init='no_such_model': neither a shipped model" in capsys.readouterr().err
    assert main([*argv, "--message-layers", "1"]) == 2
    assert "band_gap_mp2018's network has 2" in capsys.readouterr().err


def test_train_command_starts_a_target_from_a_named_output_of_the_source(table, tmp_path, capsys):
    argv = ["train", str(table), "--target", "e_f", "--init", "band_gap_mp2018"]
    argv += ["--max-epochs", "1", "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--init-output", "formation_energy_per_atom"]) == 0
    assert "each target's output from its output(s)" in capsys.readouterr().out
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["model_params"]["init_output"] == 1
    assert main([*argv, "--init-output", "0"]) == 0  # an index works too
    assert main([*argv, "--init-output", "e_above_hull"]) == 2
    err = capsys.readouterr().err
    assert "--init-output e_above_hull" in err and "'formation_energy_per_atom'" in err
    assert main([*argv, "--init-output", "0", "1"]) == 2
    assert "give one per target" in capsys.readouterr().err
    assert main([*argv[:4], "--init-output", "0"]) == 2
    assert "--init-output needs --init" in capsys.readouterr().err


def test_train_command_takes_the_loss_and_the_split(table, tmp_path, capsys):
    argv = ["train", str(table), "--target", "ind_gap", "--group-column", "family"]
    argv += ["--loss", "mse", "--test-size", "0.25", "--split-seed", "3", "--batch-size", "32"]
    argv += ["--ema-epochs", "2", "--lr-schedule", "cosine", "--max-epochs", "1"]
    argv += ["--message-layers", "1", "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "whose 'family' labels are not in training" in printed
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["model_params"]["loss"] == "mse"
    assert figures["model_params"]["batch_size"] == 32
    assert figures["model_params"]["ema_epochs"] == 2
    assert figures["model_params"]["lr_schedule"] == "cosine"
    assert figures["model_params"]["message_layers"] == 1
    split = figures["split"]
    assert split["test_size"] == 0.25 and split["seed"] == 3
    assert split["kind"] == "GroupShuffleSplit on the 'family' column"
    assert split["n_test"] == 50  # 10 of the 40 families, 5 rows each
    assert main([*argv[:4], "--test-size", "1.5"]) == 2
    assert "--test-size 1.5" in capsys.readouterr().err
    assert main([*argv[:4], "--ema-epochs", "-1"]) == 2
    assert "--ema-epochs -1.0: give a span in epochs" in capsys.readouterr().err
    assert main([*argv[:4], "--message-layers", "-1"]) == 2
    assert "--message-layers -1: give 0 or more" in capsys.readouterr().err


def test_train_command_with_elemental_references(table, tmp_path, capsys):
    saved = tmp_path / "e.safetensors"
    argv = ["train", str(table), "--target", "e_f", "--composition-baseline", "--seeds", "0", "1"]
    argv += ["--max-epochs", "1", "--save", str(saved), "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "Elemental references first" in capsys.readouterr().out
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["composition_baseline"] is True and "spread" in figures
    predict = ["predict", str(table), "--model", str(saved), "--structure-column", "Structure"]
    assert main(predict) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("id,formula,e_f,") and len(rows) == 201


def test_train_command_with_chgnet_atom_features_and_fine_tuning_from_it(
    table, tmp_path, capsys, chgnet_calls
):
    from sklearn_bandgap.io import load

    saved = tmp_path / "chgnet.safetensors"
    argv = ["train", str(table), "--target", "ind_gap", "--atom-features", "chgnet"]
    argv += ["--max-epochs", "1", "--save", str(saved), "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--n-jobs", "2"]) == 0
    capsys.readouterr()
    # --n-jobs reaches CHGNet's step (all rows for training, then the test part)...
    assert [jobs for _, jobs in chgnet_calls] == [2, 2]
    assert load(saved)[0].n_jobs is None  # ...but is not saved with the model
    predict = ["predict", str(table), "--model", str(saved), "--structure-column", "Structure"]
    assert main(predict) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("id,formula,ind_gap,") and len(rows) == 201
    # a model fine-tuned from it gets the features without being told
    tuned = ["train", str(table), "--target", "e_f", "--init", str(saved)]
    tuned += ["--max-epochs", "1", "--output-dir", str(tmp_path / "tuned")]
    assert main(tuned) == 0
    assert "reads CHGNet's atom features" in capsys.readouterr().out
    # a source trained without them cannot read them
    plain = ["train", str(table), "--target", "e_f", "--init", "band_gap_mp2018"]
    plain += ["--atom-features", "chgnet", "--max-epochs", "1"]
    assert main(plain) == 2
    assert "trained without atom features" in capsys.readouterr().err


def test_train_command_distils_chgnet_atom_features(table, tmp_path, capsys, chgnet_calls):
    from sklearn_bandgap.io import load
    from sklearn_bandgap.model_selection import formula_group_split

    saved = tmp_path / "distilled.safetensors"
    argv = ["train", str(table), "--target", "ind_gap", "--atom-features", "chgnet"]
    argv += ["--distil-atom-features", "0.5", "--max-epochs", "1", "--message-layers", "1"]
    assert main([*argv, "--save", str(saved), "--output-dir", str(tmp_path / "out")]) == 0
    assert "the model will predict without them" in capsys.readouterr().out
    # CHGNet ran on the training part alone; the test part was predicted without it
    train, _ = formula_group_split(load_table(table, target="ind_gap").groups)
    assert [n for n, _ in chgnet_calls] == [len(train)]
    featurizer, model = load(saved)
    assert featurizer.atom_features is None
    assert (model.n_distilled_features_, model.n_atom_features_) == (64, 0)
    predict = ["predict", str(table), "--model", str(saved), "--structure-column", "Structure"]
    assert main(predict) == 0
    assert len(capsys.readouterr().out.splitlines()) == 201
    assert len(chgnet_calls) == 1  # prediction never ran CHGNet
    # the features to learn must be named; a weight is a number of 0 or more
    assert main(["train", str(table), "--target", "ind_gap", "--distil-atom-features", "1"]) == 2
    assert "give --atom-features chgnet too" in capsys.readouterr().err
    assert main([*argv[:6], "--distil-atom-features", "-1"]) == 2
    assert "give a weight, 0 or more" in capsys.readouterr().err


@pytest.fixture
def chgnet_calls(monkeypatch):
    """Each call of the featurizer's CHGNet step: (structures it got, processes it was given)."""
    pytest.importorskip("chgnet")
    import joblib

    from sklearn_bandgap.featurizers import _neighbor_list_featurizer as featurizer_module

    calls: list[tuple[int, int]] = []
    compute = featurizer_module.chgnet_atom_features

    def counting(structures, *args, **kwargs):
        calls.append((len(structures), joblib.effective_n_jobs(kwargs.get("n_jobs"))))
        return compute(structures, *args, **kwargs)

    monkeypatch.setattr(featurizer_module, "chgnet_atom_features", counting)
    return calls


def test_tune_and_compare_commands_with_chgnet_atom_features(table, tmp_path, capsys, chgnet_calls):
    from sklearn_bandgap.model_selection import formula_group_split

    argv = ["tune", str(table), "--target", "ind_gap", "--atom-features", "chgnet"]
    argv += ["--storage", str(tmp_path / "study.log"), "--study-name", "chgnet"]
    assert main([*argv, "--n-trials", "2", "--max-epochs", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_complete"] + summary["n_pruned"] == 2
    # CHGNet ran once, on the training part only, before both trials
    train, _ = formula_group_split(load_table(table, target="ind_gap").groups)
    assert chgnet_calls == [(len(train), 1)]
    chgnet_calls.clear()
    argv = ["compare", str(table), "--target", "ind_gap", "--structure-column", "Structure"]
    argv += ["--estimators", "lstm_chgnet", "mean", "--folds", "2", "--max-epochs", "1"]
    assert main([*argv, "--output-dir", str(tmp_path / "cmp")]) == 0
    compared = pd.read_csv(tmp_path / "cmp" / "comparison.csv", index_col=0)
    assert set(compared.index) == {"lstm_chgnet", "mean"}
    assert np.isfinite(compared.loc["lstm_chgnet", "mae_mean"])
    # each fold: its training part, then its test part
    assert sum(n for n, _ in chgnet_calls) == 400


def test_atom_feature_options_without_chgnet_installed_say_what_to_install(
    table, tmp_path, capsys, monkeypatch
):
    import importlib.util

    find_spec = importlib.util.find_spec

    def no_chgnet(name, *args):
        return None if name == "chgnet" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_chgnet)
    hint = 'pip install "sklearn_bandgap[potential]"'
    train = ["train", str(table), "--target", "ind_gap", "--atom-features", "chgnet"]
    assert main([*train, "--max-epochs", "1"]) == 2
    assert f"--atom-features chgnet: needs CHGNet, the pretrained potential: {hint}" in (
        capsys.readouterr().err
    )
    tune = ["tune", str(table), "--target", "ind_gap", "--atom-features", "chgnet"]
    assert main([*tune, "--storage", str(tmp_path / "s.log"), "--study-name", "x"]) == 2
    assert hint in capsys.readouterr().err
    compare = ["compare", str(table), "--target", "ind_gap", "--structure-column", "Structure"]
    assert main([*compare, "--estimators", "lstm_chgnet"]) == 2
    assert "--estimators lstm_chgnet: needs CHGNet" in capsys.readouterr().err


def test_rows_chgnet_cannot_read_are_named_by_table_row_before_any_work(
    table, tmp_path, capsys, chgnet_calls
):
    from pymatgen.core import Lattice, Structure

    frame = pd.read_csv(table)
    americium = Structure(Lattice.cubic(4.2), ["Am", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    frame.loc[150, "Structure"] = americium.to(fmt="cif")  # most likely in a training part
    hostile = table.parent / "with_americium.csv"  # beside the files the table names
    frame.to_csv(hostile, index=False)
    named = "structure 150 (AmCl): holds Z=95; CHGNet's atom features know elements up to Z=94"
    own = [str(hostile), "--target", "ind_gap", "--max-epochs", "1"]
    chgnet = ["--atom-features", "chgnet"]
    study = ["--storage", str(tmp_path / "s.log"), "--study-name", "x", "--n-trials", "1"]
    compared = ["--structure-column", "Structure", "--estimators", "lstm_chgnet"]
    for argv in (
        ["train", *own, *chgnet],
        ["tune", *own, *chgnet, *study],
        ["compare", *own, *compared],
    ):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert "1 invalid structure" in error and named in error, argv[0]
    assert chgnet_calls == []  # refused before CHGNet ran on anything


def test_structures_that_cannot_be_featurized_are_named_by_table_row(table, tmp_path, capsys):
    from pymatgen.core import Lattice, Structure

    frame = pd.read_csv(table)
    clash = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0, 0, 1e-4]])
    frame.loc[150, "Structure"] = clash.to(fmt="cif")  # featurized in a training part
    hostile = table.parent / "coinciding.csv"  # beside the files the table names
    frame.to_csv(hostile, index=False)
    own = [str(hostile), "--target", "ind_gap", "--max-epochs", "1"]
    study = ["--storage", str(tmp_path / "s.log"), "--study-name", "x", "--n-trials", "1"]
    for argv in (
        ["train", *own],
        ["tune", *own, *study],
        ["compare", *own, "--structure-column", "Structure", "--estimators", "lstm"],
    ):
        assert main(argv) == 2  # one clear error, no traceback
        error = capsys.readouterr().err
        assert f"sklearn-bandgap {argv[0]}: error: 1 invalid structure" in error
        assert "structure 150 (NaCl): sites 0 and 1 coincide" in error, argv[0]
    assert "in compare(): estimator 'lstm', fold" in error


def test_train_command_distils_from_a_teacher(table, tmp_path, capsys):
    from sklearn_bandgap.io import load
    from sklearn_bandgap.model_selection import formula_group_split
    from sklearn_bandgap.pretrained import load_pretrained

    saved = tmp_path / "taught.safetensors"
    argv = ["train", str(table), "--target", "ind_gap", "--teacher", "band_gap_mp2018"]
    argv += ["--teacher-weight", "1", "--max-epochs", "1", "--save", str(saved)]
    assert main([*argv, "--output-dir", str(tmp_path / "out")]) == 0
    assert "Distilling: the training targets of ind_gap are 0 x" in capsys.readouterr().out
    # with weight 1 the model learned the teacher's predictions of the training part
    data = load_table(table, target="ind_gap")
    train, _ = formula_group_split(data.groups)
    taught = load_pretrained("band_gap_mp2018").predict([data.data[i] for i in train])
    np.testing.assert_allclose(load(saved)[-1].y_mean_[0], taught.mean(), rtol=1e-6)
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    truth = np.asarray(data.target)[train]
    assert figures["teacher"]["weight"] == 1.0
    assert figures["teacher"]["training_part_mae"] == pytest.approx(
        float(np.mean(np.abs(taught - truth)))
    )
    # bad teachers and weights: one line, exit 2
    assert main([*argv[:4], "--teacher", "nowhere.safetensors"]) == 2
    assert "--teacher: 'nowhere.safetensors': neither a shipped model nor a file" in (
        capsys.readouterr().err
    )
    assert main([*argv[:6], "--teacher-weight", "2"]) == 2
    assert "--teacher-weight 2.0: give a share in [0, 1]" in capsys.readouterr().err
    # on the MP set, a shipped teacher only with the split it was trained on
    mp = ["train", "--subset", "sample200", "--teacher", "band_gap_mp2018", "--split-seed", "3"]
    assert main(mp) == 2
    assert "it has seen your test crystals" in capsys.readouterr().err


def test_train_command_weighs_the_targets(table, tmp_path, capsys):
    argv = ["train", str(table), "--target", "ind_gap", "--target", "e_f", "--max-epochs", "1"]
    argv += ["--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--output-weights", "1", "0.25"]) == 0
    figures = json.loads((tmp_path / "out" / "main_job.json").read_text())
    assert figures["model_params"]["output_weights"] == [1.0, 0.25]
    assert main([*argv, "--output-weights", "1"]) == 2
    err = capsys.readouterr().err
    assert "--output-weights: 1 weight(s) for 2 target(s) (ind_gap, e_f): give one per" in err
    assert main([*argv, "--output-weights", "1", "0"]) == 2
    assert "every weight must be positive" in capsys.readouterr().err


def test_train_command_resumes_a_run_cut_off_from_its_checkpoints(
    table, tmp_path, capsys, monkeypatch
):
    from sklearn_bandgap.models import TrainingCheckpoint

    argv = ["train", str(table), "--target", "ind_gap", "--seeds", "0", "1"]
    argv += ["--max-epochs", "3", "--ema-epochs", "1"]
    assert main([*argv, "--output-dir", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "main_job.json").read_text())

    checkpoints = tmp_path / "checkpoints"
    cut = [*argv, "--checkpoint-dir", str(checkpoints), "--output-dir", str(tmp_path / "cut")]
    save_epoch = TrainingCheckpoint.on_epoch_end

    def killed_after_the_second_epoch(self, net, **kwargs):
        save_epoch(self, net, **kwargs)
        if len(net.history) == 2:
            raise MemoryError("the session ends here")

    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", killed_after_the_second_epoch)
    with pytest.raises(MemoryError):
        main(cut)
    assert len(list(checkpoints.glob("model_*.ckpt"))) == 1  # the first model's, 2 epochs
    monkeypatch.undo()
    saved = tmp_path / "resumed.safetensors"
    assert main([*cut, "--save", str(saved)]) == 0  # the same command, run again
    assert "Resuming from" in capsys.readouterr().out
    resumed = json.loads((tmp_path / "cut" / "main_job.json").read_text())
    assert resumed["test"] == whole["test"]  # the figures of the run never cut off
    assert saved.is_file()
    assert len(list(checkpoints.glob("model_*.ckpt"))) == 2  # each model's result, kept
    assert main([*argv, "--checkpoint-dir", str(saved)]) == 2  # a file, not a folder


@pytest.mark.parametrize("with_checkpoints", [True, False], ids=["checkpoints", "none"])
def test_ctrl_c_in_training_ends_the_train_command(
    table, tmp_path, capsys, monkeypatch, with_checkpoints
):
    """skorch alone takes Ctrl-C as "stop this fit": the next model would train."""
    from sklearn_bandgap.cli._train import StopWhenInterrupted

    started = []
    monkeypatch.setattr(
        StopWhenInterrupted, "on_train_begin", lambda self, net, **kw: started.append(net)
    )

    def ctrl_c_in_the_second_epoch(self, net, **kwargs):
        if len(net.history) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(StopWhenInterrupted, "on_batch_end", ctrl_c_in_the_second_epoch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    checkpoints, saved = tmp_path / "checkpoints", tmp_path / "model.safetensors"
    argv = ["train", str(table), "--target", "ind_gap", "--seeds", "0", "1", "--max-epochs", "3"]
    argv += ["--output-dir", str(tmp_path / "out"), "--save", str(saved)]
    try:
        status = main([*argv, "--checkpoint-dir", str(checkpoints)] if with_checkpoints else argv)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert status == 130
    assert len(started) == 1  # the second model never started
    assert not saved.exists() and not (tmp_path / "out" / "main_job.json").exists()
    err = capsys.readouterr().err
    assert "train: interrupted" in err
    if with_checkpoints:
        assert len(list(checkpoints.glob("model_*.ckpt"))) == 1  # the first model's, kept
        assert f"state of the unfinished models is in {checkpoints}: the same command" in err
