"""tests/faults: the long fault and hostile-client variants (make test-faults).  They
reuse the fixtures and helpers of tests/integration/conftest.py and the scenario
functions of tests/integration/fault_scenarios.py, run bigger."""
import importlib.util
import pathlib
import sys

IT = pathlib.Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(IT))
_spec = importlib.util.spec_from_file_location("ivs_it_conftest", IT / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
sys.modules["ivs_it_conftest"] = _mod
_spec.loader.exec_module(_mod)
# fixtures (pg, db, signer, daemon_factory) and helpers, as if defined here; the
# integration helper modules' `from conftest import ...` then finds them in this module
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})


import pytest  # noqa: E402


@pytest.fixture
def pg_db_factory(pg):
    """More fresh migrated databases in one test."""
    made = []

    def make():
        name = f"tf{len(made)}_{int(__import__('time').time() * 1000) % 10**9}"
        pg.psql(f"CREATE DATABASE {name} TEMPLATE ivs_tmpl")
        made.append(name)
        return name
    yield make
    for name in made:
        try:
            pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except RuntimeError:
            pass
