from hyperbox_hillclimb import HillClimbMutator

from hyperbox.kernel.testing import MutatorTestCase


class TestHillClimb(MutatorTestCase):
    mutator_factory = HillClimbMutator
