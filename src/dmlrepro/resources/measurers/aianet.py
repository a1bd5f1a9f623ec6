"""Measure one AiA-Net resource row (002_e585b7ac4801a221.txt, Tables 2, 3, 4 and 8): the row's
network at the paper's input size, 256×128 (Sec. 4.4), on this machine.

Every size is reported in two scopes, because the paper's tables mix them (a row with an attention
block prints the block's size, a row without one the network's; the spec's ``scope`` says which):

* ``network`` — the whole AiA-Net the cell describes.  Parameters exclude the identity
  classifiers, whose size depends on the dataset's number of identities: with that convention
  F_a + F_p has 30,155,556 parameters, the 30.16 M of Tables 2, 4 and 8.  MACs are those of one
  eval-mode forward pass of one 3×256×128 image.
* ``attention_module`` — the cell's attention block(s) alone: parameters, and MACs of each block
  run by itself on the input it receives inside the network (Table 8: "The size of the input
  feature map to the attention block ... [is] 480×16×8", Blk 2's output at 256×128).  The shapes
  are recorded in ``setup["attention_inputs"]``.

``metrics`` follows the paper's convention (params and flops in the ``attention_module`` scope
when the cell has an attention block, else ``network``; time and memory always ``network``);
``metrics_by_scope`` holds both, for a table that asks for the other one.

Units: params in millions; flops in 10⁹ multiply-accumulates (torch's FlopCounterMode counts
2 FLOPs per MAC and covers conv/linear/matmul, not element-wise ops; the paper's "FLOPs" are MACs:
Lin-attention's 0.015 G is 14.8 M MACs); inference_time_ms per image and fps in eval mode (on CPU
single-threaded process CPU time, see ``dmlrepro.resources.core.timed_inference``); memory_mb the
per-image memory of one training step (the slope between two batches, ``dmlrepro.resources.core``).
Parameter and MAC counts are exact and
run on PyTorch's ``meta`` device (no memory, no time), so a row that needs only them is cheap.

torch and the models are imported inside the functions: the plan imports this module for its
declaration (what it measures, which keys it honours) in every Snakemake job, which must not pay
for loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dmlrepro.resources.registry import register_measurer

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dmlrepro.models.aianet import AiANet, AiANetOutput

#: Sec. 4.4: "The spatial size of the input image is fixed to 256 × 128".
INPUT_SIZE = (256, 128)
#: Identities of the CUHK03-NP training set (Table 8: "This study is performed on the CUHK03
#: dataset"); only the classifiers depend on it, and the reported counts leave them out.
CUHK03_NP_TRAIN_IDS = 767
#: Metrics that need no forward pass on real data: counted exactly on the meta device.
COUNT_METRICS = frozenset({"params", "flops"})
#: Inference timing: at least this many timed passes (best kept), because the timings of the
#: rows of Table 3 differ by a few percent and a shared CPU is noisy.
MIN_TIMED_ITERATIONS = 5


#: The dataset whose per-dataset defaults (r, c') a resource row gets where neither its table nor
#: its row sets them: Sec. 5.2.7, "This study is performed on the CUHK03 dataset" (CUHK03-NP).
RESOURCE_DATASET = "cuhk03np"


def aianet_model_cell(resource_cell: dict) -> dict:
    """The ``build_aianet`` cell of a resource row: the paper cell, random initialisation, and
    the CUHK03 setting's r and c' (``RESOURCE_DATASET``) where nothing in the spec set them."""
    from dmlrepro.families.aianet import dataset_default

    cell = {k: v for k, v in resource_cell.items() if k != "paper"}
    for key in ("reduction", "c_prime"):
        cell.setdefault(key, dataset_default(RESOURCE_DATASET, key))
    cell.setdefault("model", "aianet")
    cell["pretrained"] = "none"
    return cell


def default_scope(cell: dict, metric: str) -> str:
    """The paper's convention: sizes of a row with an attention block are the block's."""
    has_attention = cell.get("attention") not in (None, "none")
    return "attention_module" if metric in COUNT_METRICS and has_attention else "network"


def _count_network(model: AiANet, image: torch.Tensor) -> tuple[int, dict[str, tuple[int, ...]]]:
    """MACs of one forward pass of ``image``, and the shape of the input each attention block
    receives in it (one pass does both)."""
    from dmlrepro.resources.core import count_macs

    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(key: str):
        def hook(_module: nn.Module, args: tuple) -> None:  # returning None keeps the input as is
            shapes[key] = tuple(args[0].shape)

        return hook

    handles = [module.register_forward_pre_hook(recorder(key)) for key, module in model.attention.items()]
    try:
        macs = count_macs(model, image)
    finally:
        for handle in handles:
            handle.remove()
    return macs, shapes


def parameter_breakdown(model: AiANet) -> dict[str, int]:
    """Parameters per part of the network, so a reported count can be reconciled by hand."""
    from torch import nn

    parts = {
        "backbone": model.backbone,
        "attention": model.attention,
        "global_head": nn.ModuleList([model.global_norm, model.global_embedding]),
        "classifiers": model.classifiers,
    }
    if model.part_extractor:
        parts["part_streams"] = model.part_streams
        parts["part_head"] = nn.ModuleList([model.part_norm, model.part_embedding])
    return {name: sum(p.numel() for p in module.parameters()) for name, module in parts.items()}


def count_sizes(cell: dict, num_classes: int = CUHK03_NP_TRAIN_IDS) -> dict[str, Any]:
    """Exact parameter and MAC counts of ``cell`` in both scopes, on the meta device."""
    import torch

    from dmlrepro.models.aianet import build_aianet
    from dmlrepro.resources.core import count_macs

    height, width = INPUT_SIZE
    with torch.device("meta"):
        model = build_aianet(cell, num_classes).eval()
        network_macs, inputs = _count_network(model, torch.empty(1, 3, height, width))
        module_macs = {
            key: count_macs(model.attention[key], torch.empty(shape)) for key, shape in inputs.items()
        }
    module_params = sum(p.numel() for p in model.attention.parameters())
    breakdown = parameter_breakdown(model)
    return {
        "by_scope": {
            "network": {
                "params": model.parameter_count(include_classifiers=False) / 1e6,
                "flops": network_macs / 1e9,
            },
            "attention_module": {
                "params": module_params / 1e6,
                "flops": sum(module_macs.values()) / 1e9,
            },
        },
        "setup": {
            "attention_inputs": {key: list(shape[1:]) for key, shape in inputs.items()},
            "attention_module_macs": module_macs,
            "params_breakdown": breakdown,
            "params_with_classifiers": model.parameter_count(include_classifiers=True),
            "classifier_identities": num_classes,
        },
    }


def gau_code_variant_sizes(cell: dict, attention_inputs: dict[str, list[int]]) -> dict[str, float] | None:
    """For a Gau-attention row: the block with the public code's cos-only features (``rff="code"``),
    whose sizes are the ones Table 8 prints, counted alone on the same inputs and recorded beside
    the measured Eq. 14 reading (never instead of it)."""
    if cell.get("attention") != "gau":
        return None
    import torch

    from dmlrepro.attention import build_attention
    from dmlrepro.models.aianet import attention_kwargs_for, attention_registry_name
    from dmlrepro.resources.core import count_macs

    name = attention_registry_name("gau", bool(cell.get("aia", True)))
    kwargs = {**attention_kwargs_for(cell), "rff": "code"}
    params = macs = 0
    with torch.device("meta"):
        for shape in attention_inputs.values():
            module = build_attention(name, shape[0], **kwargs).eval()
            params += sum(p.numel() for p in module.parameters())
            macs += count_macs(module, torch.empty(1, *shape))
    return {"params": params / 1e6, "flops": macs / 1e9}


def _training_loss(output: AiANetOutput, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on both branches; the triplet term's memory is negligible next to the
    activations, so one training step's peak is that of this loss's backward."""
    from torch.nn import functional as F

    return sum(F.cross_entropy(logits, targets) for logits in output.logits)


#: What build_aianet reads (models/aianet.py), and for which attentions; a key it does not read is
#: refused on a measured row (issue 8, defect 10).  The attention lists are models.aianet's
#: AIA_ATTENTIONS and REDUCTION_ATTENTIONS (a test holds them equal), copied so that checking a
#: spec does not load torch.
_AIA_ATTENTIONS = ("lin", "sop", "gau")
_REDUCTION_ATTENTIONS = ("lin", "sop", "gau", "nonlinear_v1", "nonlinear_v2", "se", "nl", "nonlocal")
_AIANET_BACKBONES = ("googlenet", "resnet50")
_AIANET_ALWAYS = frozenset({"model", "backbone", "attention", "part_extractor", "part_regions", "embedding_dim"})
#: Training-only keys: they change no parameter, MAC or inference time, and the training step whose
#: memory is measured is cross-entropy on both branches (the triplet term's memory is negligible).
_AIANET_TRAINING_ONLY = frozenset({"loss", "triplet_margin"})


def _aianet_applies(key: str, cell: dict) -> bool:
    attention = cell.get("attention", "none")
    if key == "aia":
        return attention in _AIA_ATTENTIONS
    if key == "reduction":
        return attention in _REDUCTION_ATTENTIONS
    if key == "c_prime":
        return attention == "gau"
    if key == "stages":
        return attention not in (None, "none")
    return key in _AIANET_ALWAYS or key in _AIANET_TRAINING_ONLY


def check_aianet_cell(cell: dict, own: dict) -> str | None:
    """The first key of a resolved AiA-Net cell the measurer does not honour, as one line."""
    backbone = cell.get("backbone", "googlenet")
    if backbone not in _AIANET_BACKBONES:
        return f"backbone {backbone!r} is not built by AiA-Net ({', '.join(_AIANET_BACKBONES)}); mark the row reported_only"
    read = _AIANET_ALWAYS | _AIANET_TRAINING_ONLY | {"aia", "reduction", "c_prime", "stages"}
    for key in sorted(cell):
        if key not in read:
            return f"{key}: {cell[key]!r} does nothing in aianet (it reads {', '.join(sorted(read))}); remove it"
    for key in sorted(own):
        if not _aianet_applies(key, cell):
            return f"{key}: {own[key]!r} does nothing: attention {cell.get('attention')!r} does not read it; remove it from the row"
    return None


MEASURED_METRICS = frozenset({"params", "flops", "memory_mb", "fps", "inference_time_ms"})


@register_measurer("aianet", metrics=MEASURED_METRICS, scopes=("network", "attention_module"),
                   check_cell=check_aianet_cell)
def measure_aianet(resource_cell: dict, device: torch.device, *, memory_batches: tuple[int, int], infer_batch: int,
                   iterations: int, wanted: set[str] | None = None) -> dict:
    """An AiA-Net row (AiA-Net Tables 2, 3, 4, 8).  ``wanted`` ⊆ {params, flops} skips every
    forward pass on real tensors (no timing, no memory)."""
    import torch

    from dmlrepro.models.aianet import build_aianet
    from dmlrepro.resources.core import measurement_device, timed_inference, training_memory

    cell = aianet_model_cell(resource_cell)
    wanted = set(wanted) if wanted else set(MEASURED_METRICS)
    sizes = count_sizes(cell)
    by_scope = {scope: dict(values) for scope, values in sizes["by_scope"].items()}
    setup: dict[str, Any] = {
        "input_size": list(INPUT_SIZE),
        "units": {"params": "millions", "flops": "10^9 multiply-accumulates (conv/linear/matmul)",
                  "inference_time_ms": "per image",
                  "memory_mb": "MB per image, one training step (slope between two batches)"},
        "params_convention": "network: all parameters but the identity classifiers; attention_module: the attention block(s)",
        **sizes["setup"],
    }
    gau_code = gau_code_variant_sizes(cell, sizes["setup"]["attention_inputs"])
    if gau_code is not None:
        setup["gau_rff_code_attention_module"] = gau_code
    height, width = INPUT_SIZE

    if wanted & {"fps", "inference_time_ms", "memory_mb"}:
        torch.manual_seed(0)
        model = build_aianet(cell, CUHK03_NP_TRAIN_IDS).to(device)
        if "memory_mb" in wanted:
            def step(batch: int) -> None:
                images = torch.randn(batch, 3, height, width, device=device)
                targets = torch.randint(0, CUHK03_NP_TRAIN_IDS, (batch,), device=device)
                _training_loss(model(images), targets).backward()

            train = training_memory(model, step, memory_batches, device)
            by_scope["network"]["memory_mb"] = train["per_image_mb"]
            by_scope["network"]["memory_fixed_mb"] = train["fixed_mb"]
            setup.update(memory_method=train["method"], memory_batches=train["batches"],
                         memory_peaks_mb=train["peaks_mb"], memory_divided_mb=train["divided_mb"])
        if wanted & {"fps", "inference_time_ms"}:
            images = torch.randn(infer_batch, 3, height, width, device=device)
            timed = max(iterations, MIN_TIMED_ITERATIONS)
            timing = timed_inference(model, images, device, timed)
            by_scope["network"]["inference_time_ms"] = 1000 * timing["best"] / infer_batch
            by_scope["network"]["fps"] = infer_batch / timing["best"]
            setup.update(
                infer_batch=infer_batch, timed_iterations=timed, timing_clock=timing["clock"],
                timing="best of the timed iterations after one warm-up; eval mode, no gradient",
                inference_time_ms_median=1000 * timing["median"] / infer_batch,
                inference_wall_ms_best=1000 * timing["wall_best"] / infer_batch,
                inference_wall_ms_median=1000 * timing["wall_median"] / infer_batch,
            )
        setup["device"] = measurement_device(device)
        setup["threads"] = torch.get_num_threads()
    else:
        setup["device"] = "meta (exact counts; no timing or memory wanted)"

    metrics = {
        metric: by_scope[default_scope(cell, metric)][metric]
        for metric in ("params", "flops", "memory_mb", "memory_fixed_mb", "fps", "inference_time_ms")
        if metric in by_scope[default_scope(cell, metric)]
    }
    return {"metrics": metrics, "metrics_by_scope": by_scope, "setup": setup, "cell": cell}
