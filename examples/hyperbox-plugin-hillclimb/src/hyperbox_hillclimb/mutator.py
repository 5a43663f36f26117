"""Hill climbing: change one decision of the best architecture so far."""

from hyperbox.kernel import Mutator


class HillClimbMutator(Mutator):
    """Hill climbing: re-sample one decision of the best architecture seen so far."""

    def __init__(self, model, *, seed=None, warmup: int = 3):
        super().__init__(model, seed=seed)
        self.warmup = warmup
        self.best = None  # (score, arch)
        self.seen = 0

    def sample_search(self):
        if self.best is None or self.seen < self.warmup:
            return self.space.sample(self.rng)
        arch = dict(self.space.validate(self.best[1]))
        key = self.rng.choice(list(self.space))
        arch[key] = self.space[key].sample(self.rng)
        return arch

    def observe(self, arch, metrics):
        self.seen += 1
        score = self.score(metrics)
        if self.best is None or score > self.best[0]:
            self.best = (score, arch)

    def sample_final(self):
        return self.space.validate(self.best[1]) if self.best else super().sample_final()
