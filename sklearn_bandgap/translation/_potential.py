"""``PotentialRelaxer``: relax structures with CHGNet, a universal interatomic potential."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from pymatgen.core import IStructure, Structure
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.featurizers._potential_features import (
    CHGNET_MAX_ATOMIC_NUMBER,
    CHGNET_MODELS,
)
from sklearn_bandgap.translation._base import BaseTranslator
from sklearn_bandgap.translation._geometry import min_interatomic_distance
from sklearn_bandgap.translation._translator import MIN_DISTANCE
from sklearn_bandgap.utils._validation import PeriodicArrays, check_structures

_INSTALL_HINT = (
    "PotentialRelaxer needs the chgnet package (its wheel carries the pretrained "
    'weights): pip install "sklearn_bandgap[potential]".'
)


class RelaxationError(InvalidStructureError):
    """Raised when the potential fails on some structures; the others are kept.

    Parameters
    ----------
    problems : sequence of StructureProblem
        The failed structures and the error of each.
    structures : list of Structure or None, default=None
        Everything that was relaxed, ``None`` at the failed indices.
    report : DataFrame or None, default=None
        :meth:`PotentialRelaxer.relax`'s report, NaN rows at the failed indices.

    Attributes
    ----------
    structures : list of Structure or None
        Everything that was relaxed, ``None`` at the failed indices.
    report : DataFrame or None
        The report of the relaxations that ran.
    """

    def __init__(
        self,
        problems: list[StructureProblem],
        structures: list[Structure | None] | None = None,
        report: pd.DataFrame | None = None,
    ) -> None:
        super().__init__(problems)
        self.structures = structures
        self.report = report

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (type(self), (self.problems, self.structures, self.report))


@dataclass
class _Outcome:
    structure: Structure | None
    n_steps: int
    converged: bool
    energy_per_atom: float
    seconds: float
    error: str | None = None


def _relax_one(
    potential: Any,
    structure: IStructure | None,
    fmax: float,
    steps: int,
    relax_cell: bool,
    device: str,
    symprec: float | None = None,
) -> _Outcome:
    """One FIRE relaxation (cell too, with ASE's FrechetCellFilter) on CHGNet's forces.

    With ``symprec``, ASE's ``FixSymmetry`` constraint keeps the space group
    spglib finds at that tolerance in the starting structure: forces and
    stresses are symmetrized, so the relaxation cannot break the symmetry.
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    assert structure is not None
    start = time.perf_counter()
    try:
        atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure))
        if symprec is not None:
            atoms.set_constraint(FixSymmetry(atoms, symprec=symprec))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its device
            atoms.calc = CHGNetCalculator(
                model=potential, use_device=device, on_isolated_atoms="error"
            )
        optimizer = FIRE(FrechetCellFilter(atoms) if relax_cell else atoms, logfile=None)
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
        energy = float(atoms.get_potential_energy()) / len(atoms)
        relaxed = AseAtomsAdaptor.get_structure(atoms)
    except (ValueError, RuntimeError, IndexError) as exc:  # CHGNet's graph or force errors
        return _Outcome(None, 0, False, float("nan"), time.perf_counter() - start, str(exc))
    seconds = time.perf_counter() - start
    n_steps = int(optimizer.nsteps)
    if not (np.isfinite(energy) and np.isfinite(relaxed.lattice.matrix).all()):
        return _Outcome(None, n_steps, False, energy, seconds, "non-finite result")
    closest = min_interatomic_distance(relaxed, MIN_DISTANCE)
    if closest < MIN_DISTANCE:
        reason = f"two atoms ended {closest:.2f} A apart (below {MIN_DISTANCE} A)"
        return _Outcome(None, n_steps, False, energy, seconds, reason)
    clean = Structure(
        relaxed.lattice,
        structure.species,
        relaxed.frac_coords,
        site_properties=structure.site_properties,
    )
    return _Outcome(clean, n_steps, converged, energy, seconds)


class PotentialRelaxer(BaseTranslator):
    """Relax structures with the pretrained universal potential CHGNet (Deng et al. 2023).

    A physics baseline (and a finisher) for :class:`RelaxationTranslator`: each
    structure is relaxed with ASE's FIRE optimizer on CHGNet's energies, forces
    and stresses, cell included (ASE's ``FrechetCellFilter``), until every
    force is below ``fmax`` or ``steps`` steps were taken. The weights are those
    inside the ``chgnet`` wheel (``pip install "sklearn_bandgap[potential]"``);
    nothing is downloaded. CHGNet was trained on Materials Project relaxation
    trajectories (PBE/PBE+U), so it may have seen relaxed versions of some test
    compounds.

    ``transform`` returns the relaxed structures, same species in the same site
    order, so that any featurizer downstream reads them unchanged; ``relax``
    also returns a report (steps, convergence, CHGNet energy, seconds). Started
    from a :class:`RelaxationTranslator`'s output (``make_pipeline(
    FrozenEstimator(translator), PotentialRelaxer())``) it needs fewer steps.

    Parameters
    ----------
    model : {"0.3.0", "0.2.0", "r2scan"}, default="0.3.0"
        Which of the CHGNet weights shipped in the wheel.
    fmax : float, default=0.1
        Force threshold (eV/Å) at which a relaxation stops (CHGNet's default).
    steps : int, default=500
        Most optimizer steps per structure (CHGNet's default).
    relax_cell : bool, default=True
        Relax the cell shape and volume too, not only the positions.
    fix_symmetry : bool, default=False
        Keep the space group of each starting structure (ASE's ``FixSymmetry``
        constraint: forces and stresses are symmetrized with the operations
        spglib finds at ``symprec``), as VASP keeps it during a relaxation. A
        structure relaxed without it may slide to a lower symmetry along a
        soft mode of the potential.
    symprec : float, default=0.01
        Tolerance (Å) of the symmetry search with ``fix_symmetry`` (ASE's
        default); ignored otherwise.
    n_jobs : int or None, default=None
        Structures relaxed in parallel processes (joblib; ``None`` is 1).
    device : str, default="cpu"
        Torch device of the potential.

    Attributes
    ----------
    potential_ : chgnet.model.CHGNet
        The loaded potential.
    n_pairs_ : int
        Structures seen in ``fit`` (nothing is learned).

    See Also
    --------
    RelaxationTranslator : Learned translation, about a thousand times faster (on the
        NREL test pairs, 459 structures/s against 2.1 s per structure in 2 processes).

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    >>> from sklearn_bandgap.translation import PotentialRelaxer
    >>> pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
    >>> relaxer = PotentialRelaxer(steps=50).fit(pairs.unrelaxed[:2])
    >>> relaxed, report = relaxer.relax(pairs.unrelaxed[:2])
    >>> list(report.columns)
    ['n_steps', 'converged', 'energy_per_atom', 'seconds']
    >>> relaxed[0].composition == pairs.unrelaxed[0].composition
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "model": [StrOptions(set(CHGNET_MODELS))],
        "fmax": [Interval(Real, 0, None, closed="neither")],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "relax_cell": ["boolean"],
        "fix_symmetry": ["boolean"],
        "symprec": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
        "device": [str],
    }

    def __init__(
        self,
        *,
        model: str = "0.3.0",
        fmax: float = 0.1,
        steps: int = 500,
        relax_cell: bool = True,
        fix_symmetry: bool = False,
        symprec: float = 0.01,
        n_jobs: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.fmax = fmax
        self.steps = steps
        self.relax_cell = relax_cell
        self.fix_symmetry = fix_symmetry
        self.symprec = symprec
        self.n_jobs = n_jobs
        self.device = device

    _requires_relaxed = False

    def _fit(self, unrelaxed: list[PeriodicArrays], relaxed: list[PeriodicArrays] | None) -> None:
        self.potential_ = self._load_potential()  # nothing is learned

    def _load_potential(self) -> Any:
        """The CHGNet model named by ``model``, from the chgnet wheel (also used by io.load)."""
        try:
            from chgnet.model import CHGNet
        except ImportError as exc:  # pragma: no cover - chgnet is in the dev extras
            raise ImportError(_INSTALL_HINT) from exc
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its size
            return CHGNet.load(model_name=self.model, use_device=self.device, verbose=False)

    def transform(self, X: Any) -> list[Structure]:
        """Relax the structures.

        Parameters
        ----------
        X : sequence of structures
            Structures to relax.

        Returns
        -------
        relaxed : list of Structure
            Same species in the same site order, relaxed by the potential.

        Raises
        ------
        RelaxationError
            If the potential fails on some structures; the relaxed others are
            in its ``structures`` attribute.
        """
        return super().transform(X)

    def _transform(self, arrays: list[PeriodicArrays]) -> list[Structure]:
        return self._relax(arrays)[0]

    def relax(self, X: Any) -> tuple[list[Structure], pd.DataFrame]:
        """Relax the structures and report how each relaxation went.

        Parameters
        ----------
        X : sequence of structures
            Structures to relax.

        Returns
        -------
        relaxed : list of Structure
            Same species in the same site order, relaxed by the potential.
        report : DataFrame
            One row per structure: ``n_steps`` (optimizer steps), ``converged``
            (every force below ``fmax`` before ``steps`` ran out),
            ``energy_per_atom`` (CHGNet's, eV/atom) and ``seconds``.

        Raises
        ------
        InvalidStructureError
            Before any relaxation, naming every structure with an element
            CHGNet does not know (atomic number above 94).
        RelaxationError
            If the potential fails on some structures (e.g. an atom with no
            neighbour within CHGNet's 5 Å cutoff); it names them and keeps the
            others' results in its ``structures`` and ``report`` attributes.
        """
        check_is_fitted(self)
        return self._relax(check_structures(X))

    def _relax(self, arrays: list[PeriodicArrays]) -> tuple[list[Structure], pd.DataFrame]:
        unknown = [
            StructureProblem(
                index,
                item.formula,
                f"holds Z={int(item.atomic_numbers.max())}; CHGNet knows elements up to "
                f"Z={CHGNET_MAX_ATOMIC_NUMBER}.",
            )
            for index, item in enumerate(arrays)
            if item.atomic_numbers.max() > CHGNET_MAX_ATOMIC_NUMBER
        ]
        if unknown:
            raise InvalidStructureError(unknown)
        outcomes: list[_Outcome] = Parallel(n_jobs=self.n_jobs)(
            delayed(_relax_one)(
                self.potential_,
                item.structure,
                self.fmax,
                self.steps,
                self.relax_cell,
                self.device,
                self.symprec if self.fix_symmetry else None,
            )
            for item in arrays
        )
        report = pd.DataFrame(
            {
                "n_steps": [o.n_steps for o in outcomes],
                "converged": [o.converged for o in outcomes],
                "energy_per_atom": [o.energy_per_atom for o in outcomes],
                "seconds": [o.seconds for o in outcomes],
            }
        )
        failed = [
            StructureProblem(i, arrays[i].formula, f"CHGNet relaxation failed: {o.error}")
            for i, o in enumerate(outcomes)
            if o.structure is None
        ]
        if failed:
            raise RelaxationError(failed, [o.structure for o in outcomes], report)
        return [o.structure for o in outcomes if o.structure is not None], report
