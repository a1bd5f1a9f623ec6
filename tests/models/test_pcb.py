"""PCB / PCB-RPP with the attention framework: shapes, the test feature, RPP's pooling, α = 0."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.models.build import build_reid_model
from dmlrepro.models.part_pooling import RefinedPartPooling, UniformPartPooling
from dmlrepro.models.pcb import pcb_loss


def test_train_output_has_one_logit_set_per_part_and_per_attention_stage(tiny_cell):
    model = build_reid_model(tiny_cell(stages=[1, 3]), num_classes=5)
    out = model(torch.randn(4, 3, 64, 32))
    assert len(out.part_logits) == 6 and all(l.shape == (4, 5) for l in out.part_logits)
    assert len(out.ds_logits) == 2


def test_no_deep_supervision_means_no_ds_logits(tiny_cell):
    model = build_reid_model(tiny_cell(deep_supervision=False), num_classes=5)
    assert model(torch.randn(2, 3, 64, 32)).ds_logits == []


def test_eval_feature_is_six_l2_normalised_part_vectors(tiny_cell):
    model = build_reid_model(tiny_cell(attention="none"), num_classes=5).eval()
    feature = model(torch.randn(3, 3, 64, 32))
    channels = model.body.backbone.stage_channels[3]
    assert feature.shape == (3, 6 * channels)
    norms = feature.view(3, 6, channels).norm(dim=2)
    torch.testing.assert_close(norms, torch.ones(3, 6))


def test_attention_at_alpha_zero_leaves_the_backbone_features_unchanged(tiny_cell):
    """Gated residual with α = 0 (Eq. 2/17): at initialisation the framework is the plain backbone."""
    torch.manual_seed(0)
    with_attention = build_reid_model(tiny_cell(), num_classes=5).eval()
    torch.manual_seed(0)
    plain = build_reid_model(tiny_cell(attention="none"), num_classes=5).eval()
    plain.body.backbone.load_state_dict(with_attention.body.backbone.state_dict())
    plain.reduce.load_state_dict(with_attention.reduce.state_dict())
    x = torch.randn(2, 3, 64, 32)
    torch.testing.assert_close(with_attention(x), plain(x))


def test_loss_is_part_ce_sum_plus_lambda_times_ds(tiny_cell):
    """Eq. 18: L = L_F + λ Σ L_DS; doubling λ adds exactly one more Σ L_DS."""
    torch.manual_seed(0)
    model = build_reid_model(tiny_cell(), num_classes=5).train()
    x, y = torch.randn(4, 3, 64, 32), torch.tensor([0, 1, 2, 3])
    output = model(x)
    l1, parts1 = pcb_loss(output, y, 1.0)
    l2, _ = pcb_loss(output, y, 2.0)
    assert parts1["loss_ds"] > 0
    assert (l2 - l1).item() == pytest.approx(parts1["loss_ds"], rel=1e-5)


def test_rpp_with_a_hard_uniform_partition_equals_stripe_pooling():
    """RPP's g_i = (p/|F|) Σ P(P_i|f) f reduces to PCB's stripe mean for a hard uniform partition."""
    parts, height = 6, 12
    rpp = RefinedPartPooling(channels=4, parts=parts)
    x = torch.randn(2, 4, height, 3)
    stripe = torch.arange(height) // (height // parts)
    logits = torch.full((parts, height), -1e4)
    logits[stripe, torch.arange(height)] = 1e4
    rpp.membership = lambda features: torch.softmax(logits[None, :, :, None].expand(2, parts, height, 3), dim=1)
    torch.testing.assert_close(rpp(x), UniformPartPooling(parts)(x))


def test_refine_switches_pooling(tiny_cell):
    model = build_reid_model(tiny_cell(model="pcb_rpp"), num_classes=5).eval()
    x = torch.randn(2, 3, 64, 32)
    before = model(x)
    model.refine()
    assert not torch.allclose(before, model(x))


def test_every_csalr_module_counts_its_pseudo_inverse_fallbacks(tiny_cell):
    """The trainer sums ``pinv_fallbacks`` over ``model.modules()`` into metrics.json."""
    model = build_reid_model(tiny_cell(), num_classes=5).train()
    model(torch.randn(2, 3, 64, 32))
    counters = [m.pinv_fallbacks for m in model.modules() if hasattr(m, "pinv_fallbacks")]
    assert counters == [0, 0, 0]  # one per stage; a random init gives an invertible A_mm
