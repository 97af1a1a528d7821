"""Shared fixtures: hand-built crystals with known neighbour shells, and real samples."""

from __future__ import annotations

import os
import tempfile

import pytest
from pymatgen.core import Lattice, Structure
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sklearn_bandgap.datasets import CACHE_ENV_VAR, load_mp_gap_eform, load_nrel_relaxation_pairs


def pytest_configure(config):
    """The tests' parse cache lives in a temporary folder, never in the user's home."""
    os.environ[CACHE_ENV_VAR] = tempfile.mkdtemp(prefix="sklearn_bandgap_test_cache_")


A_NACL, A_CSCL, A_SI, A_CU, A_PO = 5.64, 4.12, 5.431, 3.615, 3.345

#: scikit-learn's checks that need no data (its data checks feed 2-D arrays).
DATA_FREE_CHECKS = [
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
    check_parameters_default_constructible,
]


@pytest.fixture(scope="session")
def nacl() -> Structure:
    """Rock salt, conventional cell (8 atoms)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(A_NACL), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="session")
def cscl() -> Structure:
    """CsCl, primitive cubic cell (2 atoms)."""
    return Structure(Lattice.cubic(A_CSCL), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="session")
def silicon() -> Structure:
    """Diamond Si, conventional cell (8 atoms)."""
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(A_SI), ["Si"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def copper_primitive() -> Structure:
    """fcc Cu, primitive rhombohedral cell (1 atom)."""
    a = A_CU
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Cu"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def polonium() -> Structure:
    """Simple cubic Po (1 atom): every neighbour is an image of the atom."""
    return Structure(Lattice.cubic(A_PO), ["Po"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def analytic_crystals(nacl, cscl, silicon, copper_primitive, polonium) -> list[Structure]:
    return [nacl, cscl, silicon, copper_primitive, polonium]


@pytest.fixture(scope="session")
def mp_sample():
    return load_mp_gap_eform(
        subset="sample200", target=["band_gap", "formation_energy_per_atom"], progress=False
    )


@pytest.fixture(scope="session")
def nrel_sample():
    return load_nrel_relaxation_pairs(subset="sample100", progress=False)


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a PostgreSQL server started for this test session (skips if none)."""
    from _postgres import ServerUnavailable, postgres_server

    server = postgres_server()
    try:
        url = server.__enter__()
    except ServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL server here: {exc}")
    yield url
    server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def rdb_url(request, tmp_path):
    """A fresh Optuna RDB database: a SQLite file, or a database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    import sqlalchemy

    server = request.getfixturevalue("postgres_url")
    name = f"t{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"
