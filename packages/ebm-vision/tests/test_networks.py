"""The paper's image energies: shapes, conditioning, unconditional models, input gradients."""

import pytest
import torch
from ebm_vision import MNISTEnergy, ResNet32, ResNet32Large, ResNet32Wider, ResNet128
from torch import nn

CASES = [
    (lambda c, a: ResNet32(num_classes=c, act=a), (2, 3, 32, 32)),
    (lambda c, a: ResNet32Large(num_classes=c, act=a), (2, 3, 32, 32)),
    (lambda c, a: ResNet32Wider(16, num_classes=c, act=a), (2, 3, 32, 32)),
    (lambda c, a: ResNet128(num_classes=c, act=a), (2, 3, 128, 128)),
    (lambda c, a: MNISTEnergy(num_classes=c, act=a), (3, 1, 28, 28)),
]
IDS = ["resnet32", "resnet32large", "resnet32wider", "resnet128", "mnist"]


def _perturb_conditions(net: nn.Module) -> None:
    """Per-class biases/gains start equal for all classes; make them differ (as after training)."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("table"):
                p.add_(0.1 * torch.randn_like(p))
            if "conv2.parametrizations.weight.original" in name:  # near-zero init: wake it up
                p.normal_(std=0.05)


@pytest.mark.parametrize(("make", "shape"), CASES, ids=IDS)
def test_shapes_gradients_and_conditioning(make, shape):
    torch.manual_seed(0)
    net = make(10, "leaky_relu").eval()  # eval: no dropout, no power iteration between calls
    _perturb_conditions(net)
    b = shape[0]
    x = torch.rand(shape, requires_grad=True)
    y = torch.arange(b) % 10
    e = net(x, y)
    assert e.shape == (b,)
    assert torch.isfinite(e).all()
    (g,) = torch.autograd.grad(e.sum(), x)
    assert g.shape == x.shape
    assert g.abs().sum() > 0
    with torch.no_grad():
        e_other = net(x, (y + 1) % 10)
    assert not torch.allclose(e, e_other)


@pytest.mark.parametrize("make", [lambda: ResNet32Wider(8, num_classes=10), lambda: MNISTEnergy(num_classes=10)])
def test_class_index_equals_one_hot(make):
    torch.manual_seed(0)
    net = make().eval()
    _perturb_conditions(net)
    x = torch.rand(4, net.in_channels, *((32, 32) if isinstance(net, ResNet32Wider) else (28, 28)))
    y = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        torch.testing.assert_close(net(x, y), net(x, nn.functional.one_hot(y, 10).float()))


@pytest.mark.parametrize(("make", "shape"), CASES, ids=IDS)
def test_unconditional_swish(make, shape):
    torch.manual_seed(0)
    net = make(0, "swish")
    x = torch.rand(shape)
    e = net(x)
    assert e.shape == (shape[0],)
    torch.manual_seed(0)
    with torch.no_grad():  # same weights, other activation: the act argument is wired in
        assert not torch.allclose(make(0, "leaky_relu")(x), e.detach())
    with pytest.raises(ValueError, match="unconditional"):
        net(x, torch.zeros(shape[0], dtype=torch.long))


def test_conditional_needs_y_and_bad_shapes():
    net = ResNet32(num_classes=10)
    with pytest.raises(ValueError, match="conditional"):
        net(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(2, 32, 32), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        MNISTEnergy()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="activation"):
        ResNet32(act="tanh")


def test_reference_layouts():
    net = ResNet32()
    assert [b.conv1.out_channels for b in net.blocks] == [128, 128, 256, 256, 256, 256]
    assert [b.downsample for b in net.blocks] == [False, False, True, False, True, False]
    assert net.stem.out_channels == 128 and net.head.in_features == 256
    assert not hasattr(net.head, "parametrizations")  # the head has no spectral norm
    large = ResNet32Large()
    assert len(large.blocks) == 8 and {b.conv1.out_channels for b in large.blocks} == {128, 256, 512}
    assert all(b.dropout.p == 0.5 for b in large.blocks)
    wide = ResNet32Wider(192)
    assert {b.conv1.out_channels for b in wide.blocks} == {192, 384, 768}
    big = ResNet128()
    assert [b.conv1.out_channels for b in big.blocks] == [64, 128, 256, 512, 512]
    mnist = MNISTEnergy()
    assert [c.out_channels for c in mnist.convs] == [64, 64, 128, 256]
    assert mnist.dense.out_features == 128


def test_the_judge_trains_on_shifted_digits_and_judges_them_unshifted():
    """``ReferenceClassifier`` translates each training image by up to 2 pixels (``RandomShift``: every
    output a zero-padded translate of its input, the offsets differing across the batch) and leaves
    images untouched in eval mode, where it judges samples."""
    from ebm_vision.scores import RandomShift, ReferenceClassifier

    torch.manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0  # a 2x2 square in the middle: its shift is readable
    shift = RandomShift(2).train()
    out = shift(x)
    assert out.shape == x.shape and torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))  # nothing cut off
    corners = {tuple(torch.nonzero(img[0])[0].tolist()) for img in out}
    assert len(corners) > 10 and all(1 <= r <= 5 and 1 <= c <= 5 for r, c in corners)  # offsets within +-2
    assert torch.equal(shift.eval()(x), x)
    judge = ReferenceClassifier(1, 10).eval()
    with torch.no_grad():
        assert torch.equal(judge(x[:4]), judge.net(x[:4]))
    assert not list(shift.parameters())  # model files keep the judge's old weights layout
