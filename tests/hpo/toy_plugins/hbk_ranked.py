"""A trainer whose trained network has a known rank at each learning rate (for hbk tune-lr)."""

from hyperbox.kernel import hookimpl

#: convolution ``i`` learns (gains a rank-2 pattern) from the rate ``FIRST_RATE * STEP ** i`` up
LAYERS, FIRST_RATE, STEP = 4, 1e-3, 3.0


class RankedTrainer:
    """Trains nothing and steps no optimiser: returns four convolutions of ``channels`` channels
    (8: the rank falls from 1 at lr < 1e-3 to 0 at lr >= 2.7e-2; 1: nothing the rank reads),
    noise, of which those whose rate ``lr`` has reached have learnt."""

    def __init__(
        self, lr: float = 0.1, epochs: int = 1, scheduler=None, weight_decay: float = 0.0, channels: int = 8
    ) -> None:
        self.lr, self.epochs, self.channels = lr, epochs, channels

    def trial(self, model, arch, data, context):
        import torch

        generator = torch.Generator().manual_seed(0)
        layers = []
        for index in range(LAYERS):
            conv = torch.nn.Conv2d(self.channels, self.channels, 3)
            with torch.no_grad():
                conv.weight.copy_(0.1 * torch.randn(conv.weight.shape, generator=generator))
                if self.lr >= FIRST_RATE * STEP**index:
                    pattern = torch.randn(self.channels, 2, generator=generator) @ torch.randn(
                        2, self.channels * 9, generator=generator
                    )
                    conv.weight += pattern.reshape(conv.weight.shape)
            layers.append(conv)
        for epoch in range(self.epochs):
            context.report(epoch, {"loss": 0.0})
        return torch.nn.Sequential(*layers)


@hookimpl
def hyperbox_register_trainers(register):
    register("ranked_trainer", RankedTrainer)
