"""The quick demo's search space: a small CNN for 8x8 digits (or any small single-scale images)."""

from __future__ import annotations

from torch import nn

from hyperbox.nas.ops import BatchNorm2d, Conv2d, DepthwiseConv2d, Linear
from hyperbox.nas.spaces import OperationSpace, ValueSpace


class _SeparableBlock(nn.Module):
    """Depthwise then pointwise convolution (MobileNet-style), searchable widths."""

    def __init__(self, in_channels, out_channels, kernel_size: int) -> None:
        super().__init__()
        self.depthwise = DepthwiseConv2d(in_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class DigitsCNNSpace(nn.Module):
    """A small CNN space: stem width and kernel, two searchable blocks (separable 3x3 / conv 3x3 /
    conv 5x5) with searchable widths, global pooling and a linear classifier."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        stem_widths: list[int] = (16, 32),
        block_widths: list[int] = (32, 64),
        head_widths: list[int] = (64, 96),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        stem = ValueSpace(list(stem_widths), key="stem_width")
        mid = ValueSpace(list(block_widths), key="block_width")
        head = ValueSpace(list(head_widths), key="head_width")
        self.stem = nn.Sequential(
            Conv2d(in_channels, stem, ValueSpace([3, 5], key="stem_kernel"), bias=False),
            BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.block1 = self._block(stem, mid, "block1_op")
        self.pool = nn.MaxPool2d(2)
        self.block2 = self._block(mid, head, "block2_op")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.classifier = Linear(head, num_classes)

    @staticmethod
    def _block(in_channels, out_channels, key: str) -> nn.Sequential:
        # Candidates from the cheapest to the largest: the sandwich rule reads that order.
        op = OperationSpace(
            {
                "sep_conv_3x3": _SeparableBlock(in_channels, out_channels, 3),
                "conv_3x3": Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                "conv_5x5": Conv2d(in_channels, out_channels, 5, padding=2, bias=False),
            },
            key=key,
        )
        return nn.Sequential(op, BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x):
        x = self.block2(self.pool(self.block1(self.stem(x))))
        return self.classifier(self.head(x))
