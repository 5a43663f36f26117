"""The Optuna-backed ledger honours the ledger conformance suite, on SQLite and on PostgreSQL."""

import itertools
import time

import pytest

from hyperbox.hpo._ledger import OptunaLedger
from hyperbox.kernel.testing import LedgerTestCase

_STUDIES = itertools.count()


class _OptunaLedgerCase(LedgerTestCase):
    shared = True
    retries = True

    def create_ledger(self, trials, seconds=None):
        experiment = {
            "name": "conformance",
            "seed": 0,
            "objective": ["accuracy"],
            "direction": ["maximize"],
            "budget": {"trials": trials, "seconds": seconds},
        }
        study = f"conformance-{next(_STUDIES)}"
        return OptunaLedger(
            self.url, experiment=experiment, study=study, heartbeat_interval=1, grace_period=1, poll_interval=0.1
        )

    def join_ledger(self, ledger):
        return OptunaLedger(self.url, study=ledger.study.study_name, poll_interval=0.1)

    def lose(self, ledger):
        ledger.close()  # its heartbeat stops, as when the worker is killed
        time.sleep(2.5)  # past the grace period


class TestOptunaLedgerOnSQLite(_OptunaLedgerCase):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path):
        self.url = f"sqlite:///{tmp_path / 'ledger.db'}"


class TestOptunaLedgerOnPostgreSQL(_OptunaLedgerCase):
    @pytest.fixture(autouse=True)
    def _database(self, postgres_url):
        self.url = postgres_url
