"""The seed article's examples, as written there apart from the import paths
(``hyperbox.mutables.*`` -> ``hyperbox.nas.*``, ``hyperbox.mutator`` -> ``hyperbox.nas.mutators``)."""

import torch
import torch.nn as nn

from hyperbox.kernel import find_mutables


def test_operation_space_example():
    from hyperbox.nas.spaces import OperationSpace

    op1 = nn.Conv2d(in_channels=3, out_channels=16, kernel_size=3, stride=1, padding=1)
    op2 = nn.Conv2d(in_channels=3, out_channels=16, kernel_size=5, stride=1, padding=2)
    op3 = nn.Conv2d(in_channels=3, out_channels=16, kernel_size=7, stride=1, padding=3)
    ops = OperationSpace(candidates=[op1, op2, op3], key="conv_op", mask=[1, 0, 0])
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(ops(x), op1(x))


def test_input_space_example():
    from hyperbox.nas.spaces import InputSpace

    in1 = torch.rand(2, 64)
    in2 = torch.rand(2, 32)
    in3 = torch.rand(2, 16)
    skipconnect = InputSpace(n_candidates=3, n_chosen=1, key="sc", mask=[0, 1, 0])
    out = skipconnect([in1, in2, in3])
    assert out is in2


def test_value_space_example(capsys):
    from hyperbox.nas.ops import Conv2d, Linear
    from hyperbox.nas.spaces import ValueSpace

    ks = ValueSpace([3, 5, 7], key="kernelSize", mask=[0, 1, 0])
    cout = ValueSpace([16, 32, 64], key="channelOut", mask=[0, 1, 0])
    conv = Conv2d(3, cout, ks, stride=1, padding=2, bias=False)
    print([x.shape for x in conv.parameters()])
    cout = ValueSpace([10, 100], key="channelOut1")
    isBias = ValueSpace([0, 1], key="bias")  # 0: False, 1: True
    linear = Linear(10, cout, bias=isBias)
    print([x.shape for x in linear.parameters()])
    assert capsys.readouterr().out.splitlines() == [
        "[torch.Size([32, 3, 5, 5])]",
        "[torch.Size([100, 10]), torch.Size([100])]",
    ]


def test_random_mutator_ofa_example(capsys):
    from hyperbox.nas.mutators import RandomMutator
    from hyperbox.networks.ofa import OFAMobileNetV3

    net = OFAMobileNetV3(mask=None)
    rm = RandomMutator(net)
    rm.reset()  # search a subnet
    arch: dict = rm._cache  # arch of a subnet
    print(arch)
    subnet1 = OFAMobileNetV3(mask=arch)  # initialize a subnet, which has smaller parameters than `net`
    subnet2 = net.build_subnet(arch)
    assert str(arch) in capsys.readouterr().out
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(subnet2) < count(net) and count(subnet1) < count(net)
    assert not find_mutables(subnet2)
    net.eval(), subnet2.eval()
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(net(x), subnet2(x), atol=1e-5)
