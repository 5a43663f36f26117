import pytest

from hyperbox.kernel import Categorical, FloatRange, IntRange, Subset
from hyperbox.kernel.testing import ToyMutable, ToySpace


@pytest.fixture
def make_space():
    """A fresh toy space covering every domain, plus any ``extra`` mutables."""

    def make(*extra, floats=True):
        mutables = [
            ToyMutable("op", Categorical(3)),
            ToyMutable("inputs", Subset(4, 2)),
            ToyMutable("depth", IntRange(1, 7, step=2)),
        ]
        if floats:
            mutables.append(ToyMutable("lr", FloatRange(1e-4, 1e-1, log=True)))
        return ToySpace([*mutables, *extra])

    return make
