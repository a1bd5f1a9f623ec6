"""Divide and Conquer's K-learner model (004_82c542c12fef7e00.txt, §1–2, Tab. S1): the slices
partition the embedding and are normalised independently, a learner's loss trains only its rows of
the embedding layer, the per-learner initialisation, BN freezing, the paper-size build on the meta
device, and one paper-scale training step on the CPU."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.models.divide_and_conquer import (
    DivideAndConquerEmbedding,
    build_divide_and_conquer_model,
    learner_slices,
    normalize_slices,
)

PAPER_SIZE = (224, 224)
SMALL = {"blocks": [1, 1, 1, 1], "width": 16, "pretrained": "none"}


def _small(**config) -> DivideAndConquerEmbedding:
    torch.manual_seed(0)
    return build_divide_and_conquer_model({"backbone": SMALL, "freeze_bn": "none", **config})


def _on_meta(**config) -> DivideAndConquerEmbedding:
    with torch.device("meta"):
        return build_divide_and_conquer_model({"backbone": {"pretrained": "none"}, **config}, load_pretrained=False)


# --- slices ---------------------------------------------------------------------------------------


def test_paper_slices_are_tab_s1_dimensions_1_16_to_113_128():
    slices = learner_slices(128, 8)
    # Tab. S1 numbers dimensions from 1: learner k owns 16k+1 .. 16k+16.
    assert [(s.start + 1, s.stop) for s in slices] == [(16 * k + 1, 16 * k + 16) for k in range(8)]
    covered = torch.zeros(128, dtype=torch.int64)
    for s in slices:
        covered[s] += 1
    assert torch.equal(covered, torch.ones(128, dtype=torch.int64))  # a partition: each dim once


@pytest.mark.parametrize(("d", "k"), [(128, 3), (128, 0), (10, 4)])
def test_k_that_does_not_divide_d_is_a_one_line_user_error(d, k):
    with pytest.raises(UserError) as info:
        build_divide_and_conquer_model({"backbone": SMALL, "embedding_dim": d, "num_learners": k})
    assert "\n" not in str(info.value)
    assert ("does not divide" in str(info.value)) == (k > 0)


def test_each_slice_is_unit_norm_and_normalised_on_its_own():
    model = _small(embedding_dim=32, num_learners=4).eval()
    x = torch.randn(3, 3, 64, 64)
    raw = model.raw_embedding(x)
    e = model(x)
    assert e.shape == (3, 32)
    for k, s in enumerate(model.slices):
        torch.testing.assert_close(e[:, s].norm(dim=1), torch.ones(3))
        torch.testing.assert_close(e[:, s], raw[:, s] / raw[:, s].norm(dim=1, keepdim=True))
        torch.testing.assert_close(model.learner_embedding(e, k), e[:, s])
    # Scaling one slice of the raw output leaves every learner unchanged: each is normalised alone
    # (normalising the whole vector would shrink the other slices).
    scaled = raw.clone()
    scaled[:, model.slices[1]] *= 7.0
    torch.testing.assert_close(normalize_slices(scaled, model.slices), e)
    assert not torch.allclose(F.normalize(scaled, dim=1)[:, :8], F.normalize(raw, dim=1)[:, :8])
    torch.testing.assert_close(e.norm(dim=1), torch.full((3,), 2.0))  # sqrt(K)
    torch.testing.assert_close(model.full_embedding(e), e / 2.0)


def test_baseline_is_one_learner_on_the_whole_normalised_embedding():
    model = _small(embedding_dim=32, num_learners=1).eval()
    x = torch.randn(2, 3, 64, 64)
    raw = model.raw_embedding(x)
    torch.testing.assert_close(model(x), F.normalize(raw, dim=1))
    torch.testing.assert_close(model.full_embedding(model(x)), model(x))


def test_one_learners_loss_trains_only_its_rows_of_the_embedding_layer():
    model = _small(embedding_dim=32, num_learners=4).train()
    e = model(torch.randn(4, 3, 64, 64))
    f = model.learner_embedding(e, 2)
    (1 - (f[0] * f[1]).sum() + (f[2] * f[3]).sum()).backward()
    grad = model.embedding.weight.grad
    rows = grad.abs().sum(dim=1)
    assert (rows[16:24] > 0).all()
    assert torch.count_nonzero(rows[:16]) == 0 and torch.count_nonzero(rows[24:]) == 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0  # the backbone is shared


@pytest.mark.parametrize("size", [64, 96, 128])
def test_small_backbone_runs_at_smoke_sizes(size):
    model = _small(embedding_dim=32, num_learners=8).train()
    e = model(torch.randn(2, 3, size, size))
    assert e.shape == (2, 32) and torch.isfinite(e).all()


def test_penultimate_features_are_the_normalised_pooled_map():
    model = _small().eval()
    x = torch.randn(2, 3, 64, 64)
    b = model.backbone
    f = b.layer4(b.layer3(b.layer2(b.layer1(b.stem(x)))))
    torch.testing.assert_close(model.penultimate(x), F.normalize(f.mean(dim=(2, 3)), dim=1))
    assert model.penultimate(x).shape == (2, model.feature_dim)


# --- initialisation --------------------------------------------------------------------------------


def test_per_learner_xavier_uses_the_slice_width_as_fan_out():
    """The code's init_splitted: std sqrt(2 / (C + d/K)) per slice, not sqrt(2 / (C + d))."""
    torch.manual_seed(0)
    with torch.no_grad():
        model = build_divide_and_conquer_model(
            {"backbone": {**SMALL, "width": 64}, "embedding_dim": 128, "num_learners": 8}
        )
    w = model.embedding.weight.detach()
    c = model.feature_dim
    assert c == 2048
    per_slice = math.sqrt(2 / (c + 16))
    whole = math.sqrt(2 / (c + 128))
    # 2.7 % apart; each estimate (32k or 262k draws) is good to well under 1 %.
    for s in model.slices:
        assert w[s].std().item() == pytest.approx(per_slice, rel=0.01)
    assert w.std().item() == pytest.approx(per_slice, rel=0.003)
    torch.manual_seed(0)
    with torch.no_grad():
        whole_init = build_divide_and_conquer_model(
            {"backbone": {**SMALL, "width": 64}, "embedding_dim": 128, "num_learners": 8, "init": "xavier"}
        )
    assert whole_init.embedding.weight.std().item() == pytest.approx(whole, rel=0.003)
    bound = 1 / math.sqrt(c)
    assert model.embedding.bias.abs().max().item() <= bound


# --- batch norm --------------------------------------------------------------------------------------


def test_freeze_bn_stats_keeps_running_statistics_but_trains_affine_parameters():
    model = _small(freeze_bn="stats").train()
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.training for m in norms)
    before = norms[0].running_mean.clone()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert torch.equal(norms[0].running_mean, before)
    assert norms[0].weight.requires_grad and norms[0].weight.grad is not None
    assert any(p is norms[0].weight for p in model.parameter_groups()["backbone"])


def test_freeze_bn_all_also_removes_affine_parameters_from_the_groups():
    model = _small(freeze_bn="all").train()
    frozen = {id(p) for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert frozen and not frozen & {id(p) for p in model.parameter_groups()["backbone"]}


def test_freeze_bn_none_updates_running_statistics():
    model = _small(freeze_bn="none").train()
    norm = model.backbone.bn1
    before = norm.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert not torch.equal(norm.running_mean, before)


def test_parameter_groups_cover_every_trainable_parameter_once():
    model = _small()
    groups = model.parameter_groups()
    ids = [id(p) for p in groups["backbone"] + groups["embedding"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)


# --- paper size on the meta device ---------------------------------------------------------------------


@pytest.mark.parametrize("num_learners", [1, 8])
def test_paper_model_builds_on_meta_with_2048_features_and_128_dims_at_224(num_learners):
    model = _on_meta(num_learners=num_learners).train()
    x = torch.empty(2, 3, *PAPER_SIZE, device="meta")
    assert tuple(model.features(x).shape) == (2, 2048)
    assert tuple(model(x).shape) == (2, 128)
    assert (model.embedding.in_features, model.embedding.out_features) == (2048, 128)
    assert len(model.slices) == num_learners
    assert tuple(model.penultimate(x).shape) == (2, 2048)


def test_paper_model_has_resnet50_parameter_count_plus_the_embedding_layer():
    model = _on_meta()
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert backbone == 23_508_032  # torchvision ResNet-50 without fc
    assert sum(p.numel() for p in model.embedding.parameters()) == 2048 * 128 + 128


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"freeze_bn": "yes"}, "freeze_bn: unknown choice"),
        ({"init": "orthogonal"}, "init: unknown choice"),
        ({"dropout": 1.0}, "dropout must be a probability"),
        ({"heads": 2}, "unknown keys"),
        ({"backbone": {"depth": 50}}, "unknown keys"),
        ({"backbone": {"blocks": [1, 1, 1]}}, "backbone.blocks"),
        ({"embedding_dim": 0}, "positive integer"),
    ],
)
def test_bad_configs_are_one_line_user_errors(config, message):
    merged = {"backbone": SMALL, **config}
    if "backbone" in config:
        merged["backbone"] = {**SMALL, **config["backbone"]}
    with pytest.raises(UserError, match=message) as info:
        build_divide_and_conquer_model(merged)
    assert "\n" not in str(info.value)


def test_learner_index_out_of_range_is_a_user_error():
    model = _small(embedding_dim=32, num_learners=4)
    with pytest.raises(UserError, match=r"0\.\.3"):
        model.learner_embedding(torch.zeros(1, 32), 4)


# --- paper scale on the CPU ----------------------------------------------------------------------------


def test_paper_scale_model_trains_one_step_at_224_batch_2_on_cpu():
    """PAPER-SCALE PROBE: ResNet-50 (width 64), d = 128, K = 8, frozen BN statistics as in the code;
    one Adam step (lr 1e-5, wd 1e-4, the code's) at 224×224, batch 2, on learner 3's loss.
    Measured 1.4 s on one thread of the 2-core dev machine; the bound is ~14× that."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build_divide_and_conquer_model({"backbone": {"pretrained": "none"}}).train()
    groups = model.parameter_groups()
    optimizer = torch.optim.Adam(
        [{"params": groups["backbone"]}, {"params": groups["embedding"]}], lr=1e-5, weight_decay=1e-4
    )
    w_before = model.embedding.weight.detach().clone()
    conv_before = model.backbone.conv1.weight.detach().clone()
    e = model(torch.randn(2, 3, *PAPER_SIZE))
    assert e.shape == (2, 128)
    f = model.learner_embedding(e, 3)
    loss = (f[0] - f[1]).norm()  # pull the two images together in learner 3's subspace
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    moved = (model.embedding.weight.detach() - w_before).abs().sum(dim=1)
    # Adam's weight decay moves every row a little; only learner 3's rows get the loss's gradient.
    grad_rows = model.embedding.weight.grad.abs().sum(dim=1)
    assert (grad_rows[48:64] > 0).all() and torch.count_nonzero(grad_rows[:48]) == 0
    assert (moved > 0).all()
    assert not torch.equal(model.backbone.conv1.weight, conv_before)
    assert time.perf_counter() - start < 20
