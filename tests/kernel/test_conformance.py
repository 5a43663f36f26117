"""The kernel's own ledger honours the ledger conformance suite."""

from hyperbox.kernel.ledger import Budget, LocalLedger
from hyperbox.kernel.testing import LedgerTestCase


class TestLocalLedger(LedgerTestCase):
    def create_ledger(self, trials, seconds=None):
        return LocalLedger(Budget(trials=trials, seconds=seconds))
