"""OptunaMutator honours the kernel's mutator contract (default sampler: seeded TPE)."""

from hyperbox.hpo.mutator import OptunaMutator
from hyperbox.kernel.testing import MutatorTestCase


class TestOptunaMutator(MutatorTestCase):
    mutator_factory = OptunaMutator
