"""Ctrl-C is never lost, even where a library swallows the KeyboardInterrupt.

Measured before the fix: a SIGINT that landed while ``predict`` lazily imported a
compiled extension surfaced as ``ImportError: initialization failed`` (a traceback,
exit 1), or was swallowed by an optional import and the run went on to the end
(exit 0, the output replaced): 2 of 60 delays swept over the first second.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import sklearn_bandgap.cli._predict as predict_command
from sklearn_bandgap.cli import main
from sklearn_bandgap.cli._interrupt import (
    raise_if_interrupted,
    remembering_interrupts,
    was_interrupted,
)

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"
SI = (EXAMPLES / "Si_diamond.cif").read_text()


@pytest.fixture
def ctrl_c_as_in_a_terminal():
    """Python's own SIGINT handler (a test run in the background inherits SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _press_ctrl_c_and_swallow_it() -> None:
    """What an optional import does to a Ctrl-C that lands inside it."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at the next bytecode
            pass
    except KeyboardInterrupt:
        pass


def test_a_swallowed_interrupt_is_remembered(ctrl_c_as_in_a_terminal):
    with remembering_interrupts():
        assert not was_interrupted()
        raise_if_interrupted()  # nothing yet
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        _press_ctrl_c_and_swallow_it()
        assert was_interrupted()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with remembering_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_predict_stops_at_the_next_chunk_after_a_swallowed_interrupt(
    ctrl_c_as_in_a_terminal, tmp_path, monkeypatch, capsys
):
    real_stream = predict_command.predict_stream
    produced: list[int] = []

    def stream_that_loses_a_ctrl_c(*args, **kwargs):
        for k, chunk in enumerate(real_stream(*args, **kwargs)):
            produced.append(k)
            if k == 0:
                _press_ctrl_c_and_swallow_it()
            yield chunk

    monkeypatch.setattr(predict_command, "predict_stream", stream_that_loses_a_ctrl_c)
    for k in range(12):
        (tmp_path / f"s{k}.cif").write_text(SI)
    out = tmp_path / "keep.csv"
    out.write_text("previous results\n")
    status = main(["predict", str(tmp_path), "-o", str(out), "--chunk-size", "4"])
    assert status == 130
    assert produced == [0]  # no chunk predicted after the interrupt
    assert out.read_text() == "previous results\n"
    assert not list(tmp_path.glob(".keep.csv.*"))
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines() == [
        "sklearn-bandgap predict: interrupted; an existing output was left as it was."
    ]


def test_an_import_cut_short_by_ctrl_c_is_an_interruption_not_a_traceback(
    ctrl_c_as_in_a_terminal, tmp_path, monkeypatch, capsys
):
    def run_whose_import_is_interrupted(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None
        return 0

    monkeypatch.setattr(predict_command, "run", run_whose_import_is_interrupted)
    status = main(["predict", str(tmp_path), "-o", str(tmp_path / "out.csv")])
    assert status == 130
    assert "interrupted" in capsys.readouterr().err


def test_an_error_without_ctrl_c_still_raises(ctrl_c_as_in_a_terminal, monkeypatch):
    def run_that_fails(args):
        raise ImportError("a real missing library")

    monkeypatch.setattr(predict_command, "run", run_that_fails)
    with pytest.raises(ImportError, match="real missing"):
        main(["predict", "x.cif"])
