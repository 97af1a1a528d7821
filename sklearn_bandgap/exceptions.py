"""Exceptions raised by sklearn_bandgap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "ConstantPredictionWarning",
    "FeaturizationError",
    "InvalidStructureError",
    "ModelOutputError",
    "OutOfDomainWarning",
    "StructureProblem",
]


@dataclass(frozen=True)
class StructureProblem:
    """One input that cannot be used, and why.

    Attributes
    ----------
    index : int or None
        Position of the item in the input sequence (None for a single item).
    formula : str or None
        Reduced formula of the item when it could be read.
    reason : str
        What is wrong with it.
    """

    index: int | None
    formula: str | None
    reason: str

    def __str__(self) -> str:
        where = "structure" if self.index is None else f"structure {self.index}"
        if self.formula:
            where += f" ({self.formula})"
        return f"{where}: {self.reason}"


class InvalidStructureError(ValueError):
    """Raised when one or more input structures cannot be featurized.

    Every offending item is listed (not only the first), so that one pass over
    the data finds them all.

    Parameters
    ----------
    problems : sequence of StructureProblem
        The offending items.

    Attributes
    ----------
    problems : list of StructureProblem
        The offending items, in input order.
    indices : list of int
        Their positions in the input (items given alone have none).
    """

    _MAX_LISTED = 20

    def __init__(self, problems: Sequence[StructureProblem]) -> None:
        self.problems = list(problems)
        self.indices = [p.index for p in self.problems if p.index is not None]
        lines = [str(p) for p in self.problems[: self._MAX_LISTED]]
        hidden = len(self.problems) - len(lines)
        if hidden > 0:
            lines.append(f"... and {hidden} more (see the .problems attribute)")
        head = (
            "1 invalid structure"
            if len(self.problems) == 1
            else f"{len(self.problems)} invalid structures"
        )
        super().__init__(f"{head}:\n  " + "\n  ".join(lines))

    def __reduce__(self) -> tuple[type, tuple[list[StructureProblem]]]:
        # Exceptions travel between joblib workers by pickle.
        return (type(self), (self.problems,))

    def renumbered(self, positions: Sequence[int] | np.ndarray) -> InvalidStructureError:
        """The same problems, each index mapped through ``positions``.

        For an error raised on a part of the user's input (a training part, a
        cross-validation fold): ``positions[i]`` is the position in the whole
        input of the part's item ``i``, so the new error names the rows the user
        knows.

        Parameters
        ----------
        positions : sequence or ndarray of int
            The part's rows in the whole input, in the part's order.

        Returns
        -------
        error : InvalidStructureError
            A new error (the features a :class:`FeaturizationError` kept for
            the part are not carried over; raise it ``from`` this one to keep them).
        """
        return InvalidStructureError(
            [
                replace(p, index=None if p.index is None else int(positions[p.index]))
                for p in self.problems
            ]
        )


class FeaturizationError(InvalidStructureError):
    """Raised when a featurizer fails on, or returns non-finite values for, some inputs.

    The features of the other inputs are not lost: they are in ``features``,
    with NaN rows at the failed ``indices``.

    Parameters
    ----------
    problems : sequence of StructureProblem
        The failed items and the featurizer's error for each.
    features : ndarray of shape (n_samples, n_features), default=None
        Everything that was computed.

    Attributes
    ----------
    features : ndarray or None
        Everything that was computed, NaN rows at the failed indices.
    """

    def __init__(
        self, problems: Sequence[StructureProblem], features: np.ndarray | None = None
    ) -> None:
        super().__init__(problems)
        self.features = features

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (type(self), (self.problems, self.features))


class OutOfDomainWarning(UserWarning):
    """Structures unlike any seen in ``fit``; their predictions are extrapolations.

    Parameters
    ----------
    message : str
        The text of the warning.
    problems : sequence of StructureProblem
        Every such structure, by index and formula, with the reason.

    Attributes
    ----------
    problems : list of StructureProblem
        Every flagged structure (``problems[k].index`` is its position in the
        input), so that a caller can mark them one by one.
    """

    def __init__(self, message: str, problems: Sequence[StructureProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (type(self), (str(self), self.problems))


class ConstantPredictionWarning(UserWarning):
    """A fitted model predicts (nearly) the same value for every training structure.

    Usually a mostly-zero target under the L1 loss, whose minimiser is the
    median (0): the message names the output, the share of zeros and the
    options (``loss="mse"``, or a ``ZeroInflatedRegressor``).
    """


class ModelOutputError(ValueError):
    """A model predicts another number of values than the outputs its file names."""
