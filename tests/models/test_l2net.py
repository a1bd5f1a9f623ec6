"""L2-Net as HardNet trains it: shapes, unit descriptors, the parameter count, equality with
HardNet's own layer list under its weights, and SA/CSA after layer 3 being the identity at α = 0."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dmlrepro.errors import UserError
from dmlrepro.models.l2net import L2NET_PARAMETERS, L2Net


def patches(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g) * 255


def hardnet_reference() -> nn.Module:
    """HardNet's network written from its layer list (``DagnyT/hardnet`` ``code/HardNet.py``):
    convs without bias, BN without affine, dropout 0.3, the 8×8 conv, per-patch norm, L2 norm."""

    class HardNetLayout(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            for cin, cout, stride in [(1, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1)]:
                layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                           nn.BatchNorm2d(cout, affine=False), nn.ReLU()]
            layers += [nn.Dropout(0.3), nn.Conv2d(128, 128, 8, bias=False), nn.BatchNorm2d(128, affine=False)]
            self.features = nn.Sequential(*layers)

        def forward(self, x):
            flat = x.view(x.size(0), -1)
            x = (x - flat.mean(1)[:, None, None, None]) / (flat.std(1)[:, None, None, None] + 1e-7)
            x = self.features(x).view(x.size(0), -1)
            return x / torch.sqrt((x * x).sum(1, keepdim=True) + 1e-10)

    return HardNetLayout()


def test_a_32x32_patch_becomes_a_128d_unit_descriptor():
    out = L2Net()(patches())
    assert out.shape == (6, 128)
    assert torch.allclose(out.norm(dim=1), torch.ones(6), atol=1e-5)


def test_parameter_count_is_the_l2net_count():
    # 3×3 convs 1→32→32→64→64→128→128 and the 8×8 conv 128→128; no biases, BN without affine.
    widths = [1, 32, 32, 64, 64, 128, 128]
    expected = sum(9 * cin * cout for cin, cout in zip(widths, widths[1:])) + 64 * 128 * 128
    assert expected == L2NET_PARAMETERS == 1_334_560
    assert sum(p.numel() for p in L2Net().parameters()) == expected
    assert sum(p.numel() for p in hardnet_reference().parameters()) == expected


@pytest.mark.parametrize("attention, module_params", [
    # CSA, one group, D = 32: maps 64→32 and value 64→64 with bias, plus α.
    ("csa", 64 * 32 + 32 + 64 * 64 + 64 + 1),
    # SA, C' = 64/4: query and key 64→16, value 64→64 with bias, plus α.
    ("sa", 2 * (64 * 16 + 16) + 64 * 64 + 64 + 1),
])
def test_attention_adds_only_its_module(attention, module_params):
    model = L2Net(attention=attention)
    assert sum(p.numel() for p in model.parameters()) == L2NET_PARAMETERS + module_params
    if attention == "csa":
        assert model.attention.groups == 1 and model.attention.bases == 32


def test_equals_hardnets_layer_list_under_its_weights():
    torch.manual_seed(0)
    reference = hardnet_reference()
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial running statistics
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model = L2Net()
    model.load_hardnet_state_dict(reference.state_dict())
    reference.eval(), model.eval()
    x = patches(4)
    assert torch.allclose(model(x), reference(x), atol=1e-6)


def test_hardnet_weights_that_do_not_fit_are_refused():
    state = hardnet_reference().state_dict()
    del state["features.19.weight"]
    with pytest.raises(UserError, match="missing"):
        L2Net().load_hardnet_state_dict(state)
    with pytest.raises(UserError, match="not a HardNet weight"):
        L2Net().load_hardnet_state_dict({"conv.weight": torch.zeros(1)})


@pytest.mark.parametrize("attention", ["csa", "sa"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_attention_after_layer_3_is_the_identity_at_alpha_zero(attention, mode):
    plain = L2Net()
    attended = L2Net(attention=attention)
    missing, unexpected = attended.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("attention.") for k in missing)
    getattr(plain, mode)(), getattr(attended, mode)()
    x = patches(8)
    torch.manual_seed(1)
    expected = plain(x)
    torch.manual_seed(1)  # the same dropout mask
    assert torch.equal(attended(x), expected)
    with torch.no_grad():
        attended.attention.alpha.fill_(0.5)
    torch.manual_seed(1)
    assert not torch.allclose(attended(x), expected, atol=1e-4)


@pytest.mark.parametrize("attention", ["csa", "sa"])
def test_the_module_sees_the_third_blocks_64x16x16_output_and_learns_alpha(attention):
    model = L2Net(attention=attention)
    seen = []
    model.attention.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    model(patches(4)).sum().backward()
    assert seen == [torch.Size([4, 64, 16, 16])]
    assert model.attention.alpha.grad is not None and model.attention.alpha.grad.abs().item() > 0


def test_each_patch_is_normalised_to_zero_mean_unit_std():
    model = L2Net().eval()
    x = patches(5)
    assert torch.allclose(model(x), model(3.0 * x + 20.0), atol=1e-5)
    assert not torch.allclose(model(x), model(x.flip(-1)), atol=1e-3)


@pytest.mark.parametrize("x", [torch.zeros(2, 1, 64, 64), torch.zeros(2, 32, 32), torch.zeros(2, 1, 32, 32, dtype=torch.uint8)])
def test_wrong_input_is_a_one_line_error(x):
    with pytest.raises(UserError, match="L2-Net takes \\(batch, 1, 32, 32\\) float patches") as error:
        L2Net()(x)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(attention="csalr"), "attention: 'csalr' is not one of none, sa, csa"),
    (dict(attention="csa", attention_after=7), "attention_after must be a conv block 1..6"),
    (dict(dropout=1.0), "dropout must lie in"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError) as error:
        L2Net(**kwargs)
    assert message in str(error.value)
