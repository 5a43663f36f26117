from hyperbox.kernel.testing import MutatorTestCase
from hyperbox_hillclimb import HillClimbMutator


class TestHillClimb(MutatorTestCase):
    mutator_factory = HillClimbMutator
