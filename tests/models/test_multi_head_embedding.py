"""Multi-Head DML's model (003_72cd4b33cee60b89.txt, Sec. 3, 4.2, 4.5): paper-size shapes on the
meta device for every variant, the single head's 7×7×6144 map, the D/2 halves, normalisation,
gradients to both heads, and one paper-scale training step on the CPU."""

from __future__ import annotations

import itertools
import time

import pytest
import torch
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.models.multi_head_embedding import (
    HEAD_CHOICES,
    MultiHeadEmbedding,
    build_multi_head_model,
    focus,
)
from dmlrepro.models.resnet import PretrainedWeightsError

PAPER_SIZE = (224, 224)
SMALL = {"blocks": [1, 1, 1, 1], "width": 16, "pretrained": "none"}


def _small(**config) -> MultiHeadEmbedding:
    torch.manual_seed(0)
    return build_multi_head_model({"backbone": SMALL, "embedding_dim": 32, **config})


def _on_meta(**config) -> MultiHeadEmbedding:
    with torch.device("meta"):
        return build_multi_head_model({"backbone": {"pretrained": "none"}, **config}, load_pretrained=False)


# --- paper-size shapes (ResNet-50, 224×224, meta device) ----------------------------------------


def test_resnet50_gives_14x14x1024_local_and_7x7x2048_global_maps_at_224():
    maps = _on_meta(heads="both").feature_maps(torch.empty(1, 3, *PAPER_SIZE, device="meta"))
    assert tuple(maps["local"].shape[1:]) == (1024, 14, 14)
    assert tuple(maps["global"].shape[1:]) == (2048, 7, 7)


def test_single_head_concatenates_focused_conv4_and_conv5_into_7x7x6144():
    model = _on_meta(heads="single", embedding_dim=512)
    maps = model.feature_maps(torch.empty(1, 3, *PAPER_SIZE, device="meta"))
    assert list(maps) == ["single"]
    assert tuple(maps["single"].shape[1:]) == (6144, 7, 7)
    assert (model.heads["single"].fc.in_features, model.heads["single"].fc.out_features) == (6144, 512)
    assert model.heads["single"].soa.channels == 6144


@pytest.mark.parametrize(
    ("heads", "soa", "dim"),
    [(h, s, 512) for h, s in itertools.product(HEAD_CHOICES, (True, False))]
    + [("both", True, d) for d in (64, 128, 1024, 2048)],  # Tables 1-3 and Figure 8's range
)
def test_every_variant_builds_on_meta_and_gives_a_d_dim_embedding_at_224(heads, soa, dim):
    model = _on_meta(heads=heads, soa=soa, embedding_dim=dim).train()
    out = model(torch.empty(2, 3, *PAPER_SIZE, device="meta"), return_attention=True)
    assert out.embedding.shape == (2, dim)
    per_head = dim // 2 if heads == "both" else dim
    assert all(head.fc.out_features == per_head for head in model.heads.values())
    expected_maps = {"local": 14, "global": 7, "single": 7}
    if soa:
        assert {name: tuple(a.shape) for name, a in out.attention.items()} == {
            name: (2,) + (expected_maps[name],) * 4 for name in model.heads
        }
    else:
        assert out.attention == {} and all(head.soa is None for head in model.heads.values())


def test_paper_soa_inner_dimensions_follow_solars_c_over_4_and_c_over_2():
    model = _on_meta(heads="both")
    assert model.heads["local"].soa.inner_channels == 256
    assert model.heads["global"].soa.inner_channels == 1024
    assert _on_meta(soa_reduction=8).heads["global"].soa.inner_channels == 256
    assert _on_meta(soa_reduction={"local": 1}).heads["local"].soa.inner_channels == 1024


def test_local_only_model_drops_conv5_x():
    local = _on_meta(heads="local")
    assert isinstance(local.backbone.layer4, torch.nn.Identity)
    both = _on_meta(heads="both")
    assert _count(local.backbone) == _count(both.backbone) - _count(both.backbone.layer4)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the parts --------------------------------------------------------------------------------------


def test_focus_is_space_to_depth_in_yolo_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    y = focus(x)
    assert y.shape == (2, 12, 2, 3)
    torch.testing.assert_close(y[:, 3:6], x[:, :, 1::2, ::2])  # second phase: odd rows, even columns
    # The same values as pixel_unshuffle, in another channel order (phase-major instead of channel-major).
    unshuffled = F.pixel_unshuffle(x, 2)  # channel c*4 + (row phase)*2 + column phase
    order = [c * 4 + p for p in (0, 2, 1, 3) for c in range(3)]
    torch.testing.assert_close(y, unshuffled[:, order])


def test_focus_rejects_an_odd_map():
    with pytest.raises(UserError, match="divisible by 32"):
        focus(torch.zeros(1, 4, 7, 6))


def test_pooling_is_gap_plus_gmp_summed_then_fc():
    """Eq. 4: f = mean + max over locations (sum, not concatenation), then F_l x + b (Sec. 3.3)."""
    model = _small(heads="local", soa=False, normalize=False).eval()
    x = torch.randn(2, 3, 64, 64)
    f = model.feature_maps(x)["local"]
    pooled = f.mean(dim=(2, 3)) + f.flatten(2).max(dim=2).values
    fc = model.heads["local"].fc
    assert fc.in_features == f.shape[1]
    torch.testing.assert_close(model(x), pooled @ fc.weight.T + fc.bias)


# --- the embedding ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128])
def test_small_backbone_runs_at_smoke_sizes_and_the_embedding_is_unit_length(size):
    model = _small().train()
    e = model(torch.randn(3, 3, size, size))
    assert e.shape == (3, 32)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))


def test_embedding_is_local_half_then_global_half():
    model = _small(normalize=False).eval()
    assert model.head_slices() == {"local": slice(0, 16), "global": slice(16, 32)}
    x = torch.randn(2, 3, 64, 64)
    before = model(x)
    with torch.no_grad():
        model.heads["global"].fc.bias.add_(1.0)
    after = model(x)
    torch.testing.assert_close(after[:, :16], before[:, :16])
    torch.testing.assert_close(after[:, 16:], before[:, 16:] + 1.0)


def test_l2_normalisation_is_of_the_whole_concatenation():
    model = _small(normalize=False).eval()
    x = torch.randn(2, 3, 64, 64)
    raw = model(x)
    model.normalize = True
    torch.testing.assert_close(model(x), raw / raw.norm(dim=1, keepdim=True))


def test_soa_at_initialisation_leaves_the_embedding_unchanged():
    with_soa = _small(soa=True).eval()
    without = _small(soa=False).eval()
    without.load_state_dict(with_soa.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(with_soa(x), without(x))


def test_attention_for_a_location_is_its_row_and_sums_to_one_over_the_map():
    model = _small(heads="single", soa_reduction=4).eval()
    for head in model.heads.values():
        torch.nn.init.normal_(head.soa.phi.weight, std=0.1)
    x = torch.randn(2, 3, 128, 128)
    out = model(x, return_attention=True)
    a = out.attention["single"]
    assert a.shape == (2, 4, 4, 4, 4)
    torch.testing.assert_close(a.sum(dim=(3, 4)), torch.ones(2, 4, 4))
    row = model.heads["single"].soa.attention(model.feature_maps(x)["single"])
    torch.testing.assert_close(a[:, 1, 2].flatten(1), row[:, 1 * 4 + 2])
    torch.testing.assert_close(out.embedding, model(x))


def test_gradient_reaches_both_heads_and_every_backbone_stage():
    model = _small().train()
    e = model(torch.randn(4, 3, 64, 64))
    (1 - (e[0] * e[1]).sum() + (e[2] * e[3]).sum()).backward()
    for name in ("local", "global"):
        head = model.heads[name]
        assert head.fc.weight.grad.abs().sum() > 0, name
        assert head.soa.phi.weight.grad.abs().sum() > 0, name
        assert torch.count_nonzero(head.soa.query.weight.grad) == 0, "φ = 0 at init: q gets no gradient yet"
    for stage in ("conv1", "layer1", "layer2", "layer3", "layer4"):
        grads = [p.grad for p in getattr(model.backbone, stage).parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, stage


def test_local_half_alone_trains_conv4_but_not_conv5():
    model = _small(normalize=False).train()
    e = model(torch.randn(2, 3, 64, 64))
    e[:, model.head_slices()["local"]].pow(2).sum().backward()
    assert model.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.backbone.layer4.parameters())


def test_parameter_groups_split_every_trainable_parameter_once():
    model = _small()
    groups = model.parameter_groups()
    ids = [id(p) for p in groups["backbone"] + groups["heads"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)
    assert {id(p) for p in groups["heads"]} == {id(p) for p in model.heads.parameters()}


def test_freeze_bn_keeps_backbone_bn_in_eval_and_out_of_the_groups():
    model = _small(freeze_bn=True).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.training and not m.weight.requires_grad for m in norms)
    frozen = {id(p) for m in norms for p in m.parameters()}
    assert not frozen & {id(p) for p in model.parameter_groups()["backbone"]}
    before = norms[0].running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(norms[0].running_mean, before)


# --- bad input ------------------------------------------------------------------------------------


def test_odd_embedding_dimension_is_rejected_for_two_heads():
    with pytest.raises(UserError, match=r"embedding dimension D must be even \(D/2 per head\)"):
        _small(embedding_dim=65)


@pytest.mark.parametrize("heads", ["local", "global", "single"])
def test_one_head_variants_take_any_positive_d(heads):
    assert _small(heads=heads, embedding_dim=65)(torch.randn(2, 3, 64, 64)).shape == (2, 65)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"heads": "three"}, "heads: unknown head set"),
        ({"embedding_dim": 0}, "positive integer"),
        ({"soa_dimension": 4}, "unknown keys"),
        ({"backbone": {"depth": 50}}, "unknown keys"),
        ({"soa_reduction": {"middle": 2}}, "unknown heads"),
        ({"soa_reduction": 0}, "positive integer"),
        ({"soa_reduction": 512}, "smaller soa_reduction"),
        ({"backbone": {"blocks": [1, 1, 1]}}, "backbone.blocks"),
    ],
)
def test_bad_configs_are_one_line_user_errors(config, message):
    merged = {"backbone": SMALL, **config}
    if "backbone" in config:
        merged["backbone"] = {**SMALL, **config["backbone"]}
    with pytest.raises(UserError, match=message) as info:
        build_multi_head_model(merged)
    assert "\n" not in str(info.value)


def test_single_head_at_an_input_not_divisible_by_32_names_the_fix():
    with pytest.raises(UserError, match="divisible by 32"):
        _small(heads="single")(torch.randn(1, 3, 80, 80))


def test_pretrained_setting_reaches_the_weight_loader():
    with pytest.raises(PretrainedWeightsError, match="only for ResNet-50"):
        build_multi_head_model({"backbone": {**SMALL, "pretrained": "imagenet"}})


# --- paper scale on the CPU ---------------------------------------------------------------------


def test_paper_scale_model_trains_one_step_at_224_batch_2_on_cpu():
    """PAPER-SCALE PROBE: ResNet-50 (width 64), D = 512, both heads, SOA; one AdamW step at the paper's
    224×224, batch 2.  Measured 2.3 s on one thread of the 2-core dev machine; the bound is ~8× that."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build_multi_head_model(
        {
            "heads": "both",
            "soa": True,
            "embedding_dim": 512,
            "backbone": {"blocks": [3, 4, 6, 3], "width": 64, "pretrained": "none"},
        }
    ).train()
    groups = model.parameter_groups()
    optimizer = torch.optim.AdamW([{"params": groups["backbone"]}, {"params": groups["heads"]}], lr=1e-4)
    watched = {
        "local fc": model.heads["local"].fc.weight,
        "global fc": model.heads["global"].fc.weight,
        "local phi": model.heads["local"].soa.phi.weight,
        "global phi": model.heads["global"].soa.phi.weight,
        "conv1": model.backbone.conv1.weight,
    }
    before = {name: p.detach().clone() for name, p in watched.items()}
    e = model(torch.randn(2, 3, *PAPER_SIZE))
    assert e.shape == (2, 512)
    loss = 1 - (e[0] * e[1]).sum()  # cosine loss between the two images' embeddings
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    for name, p in watched.items():
        assert not torch.equal(p, before[name]), f"{name} did not move"
    assert time.perf_counter() - start < 20
