"""L2-Net descriptors trained with the HardNet or the RAL-Net loss, with or without SA / CSA on the
3rd layer (CSA, 001_5fbd5da13318fd56.txt, "Local Descriptor Learning"; Tables 7-8): the
patch-descriptor task's model family.

A row's cell over the paper's defaults resolves to ``model`` (hardnet | ralnet: the main loss,
"the same as the original method"), ``attention`` (none | sa | csa) placed after ``layers: [3]``
("we place the CSA module on the 3rd layer of L2Net without deep supervision and channel
grouping"), CSA's ``bases`` (D, default the paper's 32), and the paper's training preset for the
scale (config/presets/<paper>.patch_descriptor.yaml).  ``groups`` must be 1 and
``deep_supervision`` false (what the paper states).  The re-ID keys the CSA paper's defaults carry
(``stages``, ``ds_lambda``, ``ds_branch``, ``group_mode``) are dropped when inherited and refused
when a row sets them.

A cell trains on its Brown subset (the columns' ``train_dataset``; plan.trained_on) and its
evaluation computes every protocol this family lists, whatever the tables read, so the cell's id
does not depend on the tables: ``test@<subset>`` (FPR95) on each of the other two Brown subsets
and, for cells trained on Liberty, ``hpatches`` (verification / matching / retrieval mAP on split
``full``; the paper: "We use the models trained on Liberty subset of Brown dataset and test their
generalization performance on Hpatches dataset", so an HPatches column trained elsewhere is
refused).  Table 7's six
train/test columns thus read three cells per row, two protocols each; Table 8 reads the
Liberty-trained cells, the same jobs as Table 7's Liberty columns.  A column without
``train_dataset`` (which would train on the test set) is refused, as is one naming no protocol.
Table 7's "Mean" column (``mean_of``) is formed by the table aggregation
(``dmlrepro.tables.aggregate``), per seed, from the six columns it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import cell_hash
from dmlrepro.errors import UserError
from dmlrepro.tasks.family import ModelFamily, register_family
from dmlrepro.tasks.patch import BROWN_METRICS, BROWN_SUBSETS, HPATCHES, HPATCHES_METRICS, MODEL_LOSSES

MODELS = ("hardnet", "ralnet")
ATTENTIONS = ("none", "sa", "csa")
#: Cell keys this family reads.
READ_KEYS = frozenset({"model", "backbone", "attention", "bases", "groups", "layers", "deep_supervision", "loss"})
#: Re-ID keys of the CSA paper's defaults that mean nothing here: dropped when inherited.
INHERITED_IGNORED = frozenset({"stages", "ds_lambda", "ds_branch", "group_mode"})
#: The layer the paper places the module after, and CSA's default D (the paper's re-ID value;
#: the local-descriptor section gives none).
PAPER_LAYER = 3
DEFAULT_BASES = 32
#: The Brown subset whose descriptors are evaluated on HPatches (Table 8).
HPATCHES_TRAIN = "brown_liberty"


def _loss_name(paper_cell: dict) -> str | None:
    loss = paper_cell.get("loss")
    if isinstance(loss, dict) and len(loss) == 1 and list(loss.values()) == [1.0]:
        return next(iter(loss))
    return None


@register_family
class L2NetDescriptorFamily(ModelFamily):
    name = "l2net_descriptor"
    task = "patch_descriptor"
    models = MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        model = paper_cell.get("model")
        for key in sorted(paper_cell):
            if key in READ_KEYS or (key in INHERITED_IGNORED and key not in own):
                continue
            return (f"{key}: {paper_cell[key]!r} does nothing in the L2-Net descriptor trainer (it reads "
                    f"{', '.join(sorted(READ_KEYS))}); remove it or mark the row reported_only")
        if paper_cell.get("backbone", "l2net") != "l2net":
            return f"backbone {paper_cell['backbone']!r}: {model} rows train L2-Net (backbone: l2net)"
        attention = paper_cell.get("attention", "none")
        if attention not in ATTENTIONS:
            return f"attention {attention!r}: the L2-Net descriptor builds {', '.join(ATTENTIONS)}"
        if paper_cell.get("groups", 1) != 1:
            return (f"groups {paper_cell['groups']}: the local-descriptor CSA has no channel grouping "
                    "(groups: 1); set groups: 1")
        if paper_cell.get("deep_supervision", False) is not False:
            return "deep_supervision: the local-descriptor module has no deep supervision; set it to false"
        layers = paper_cell.get("layers", [PAPER_LAYER])
        if len(layers) != 1 or not 1 <= layers[0] <= 6:
            return f"layers {layers}: one module after one of L2-Net's conv blocks 1-6 (the paper: [3])"
        if attention == "none" and "layers" in own:
            return "layers does nothing without an attention; remove it from the row"
        if "bases" in own and attention != "csa":
            return f"bases does nothing with attention {attention!r}; remove it from the row"
        expected = MODEL_LOSSES[model]
        if _loss_name(paper_cell) != expected:
            return (f"loss {paper_cell.get('loss')}: {model} trains with its own loss "
                    f"({{{expected}: 1.0}}, the paper: 'the same as the original method')")
        return None

    def protocols(self, dataset: str) -> tuple[str, ...]:
        if dataset in BROWN_SUBSETS:
            return (f"test@{dataset}",)
        if dataset == HPATCHES:
            return (HPATCHES,)
        return ()

    def column_problem(self, column: dict) -> str | None:
        if "mean_of" in column:
            for key in ("protocol", "train_dataset", "dataset"):
                if key in column:
                    return f"{key} does nothing on a mean_of column (its columns set it); remove it"
            return None  # formed by dmlrepro.tables.aggregate from the columns it names
        for key in ("boxes", "query_mode", "eval_dims", "scope"):
            if key in column:
                return f"{key} cannot be honoured by the local-descriptor evaluation; remove it"
        dataset, train = column.get("dataset"), column.get("train_dataset")
        if train not in BROWN_SUBSETS:
            return (f"train_dataset {train!r}: a descriptor cell trains on a Brown subset "
                    f"({', '.join(BROWN_SUBSETS)}); name it (the column's dataset is what it is tested on)")
        if train == dataset:
            return f"dataset {dataset}: the paper tests on the subsets a model was not trained on; change train_dataset"
        if dataset == HPATCHES and train != HPATCHES_TRAIN:
            return (f"train_dataset {train}: HPatches is evaluated on the descriptors trained on {HPATCHES_TRAIN} "
                    "(the paper's Table 8); use train_dataset: brown_liberty")
        if "protocol" not in column:
            listed = ", ".join(self.protocols(dataset or "")) or "none"
            return f"a descriptor column names its protocol ({listed} on {dataset})"
        problem = self.protocol_problem(column)
        if problem:
            return problem
        metrics = HPATCHES_METRICS if dataset == HPATCHES else BROWN_METRICS
        if column["metric"] not in metrics:
            return f"metric {column['metric']!r} is not computed on {dataset} ({', '.join(metrics)})"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        from dmlrepro.presets import training_preset

        if dataset not in BROWN_SUBSETS:
            raise UserError(f"dataset {dataset!r}: descriptor cells train on a Brown subset ({', '.join(BROWN_SUBSETS)}); "
                            "set the column's train_dataset")
        attention = paper_cell.get("attention", "none")
        model = {"name": paper_cell["model"], "attention": attention,
                 "attention_after": paper_cell.get("layers", [PAPER_LAYER])[0] if attention != "none" else PAPER_LAYER}
        if attention == "csa":
            model["bases"] = int(paper_cell.get("bases", DEFAULT_BASES))
        # L2-Net trains from scratch: the run's `pretrained` setting (ResNet weights) is not applied.
        preset_scale = {**scale, "pretrained_override": None}
        return {
            "task": self.task,
            "family": self.name,
            "paper": paper,
            "dataset": dataset,
            "test_datasets": [d for d in BROWN_SUBSETS if d != dataset] + ([HPATCHES] if dataset == HPATCHES_TRAIN else []),
            "data_root": str(data_root),
            "model": model,
            "loss": MODEL_LOSSES[paper_cell["model"]],
            "scale": scale["name"],
            "training": training_preset(paper, preset_scale, "patch_preset.schema.yaml", task=self.task),
        }

    def cell_id(self, cell: dict) -> str:
        """`brown_liberty-hardnet-csa-d32-l3-1a2b3c4d`."""
        model = cell["model"]
        parts = [cell["dataset"], model["name"], model["attention"]]
        if model["attention"] != "none":
            parts += ([f"d{model['bases']}"] if "bases" in model else []) + [f"l{model['attention_after']}"]
        return "-".join(parts + [cell_hash(cell)])

    def validate_cell(self, cell: dict) -> None:
        import torch

        from dmlrepro.losses import build_loss
        from dmlrepro.training.patch_parts import build_l2net

        training = cell["training"]
        batch = training["batch_size"][cell["model"]["name"]]
        if batch > training["pairs_per_epoch"]:
            raise UserError(f"training preset of {cell['paper']} ({cell['scale']}): batch_size {batch} exceeds "
                            f"pairs_per_epoch {training['pairs_per_epoch']}")
        with torch.device("meta"):
            model = build_l2net(cell["model"], training["dropout"]).train()
            model(torch.empty(2, 1, 32, 32))
        build_loss(cell["loss"])

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        import time

        from dmlrepro.training.engine import prepare_run, run_training
        from dmlrepro.training.patch_parts import patch_parts

        started = time.time()
        device, flags = prepare_run(runtime.get("threads"), runtime.get("device_name", "auto"), seed)
        return run_training(
            cell, seed, out_dir, checkpoint_dir,
            lambda device_, fresh: patch_parts(cell, seed, device_, fresh, runtime.get("eval_batch_size")),
            device, flags, started, progress=runtime.get("progress", True),
            progress_file=runtime.get("progress_file"), reuse_weights=runtime.get("reuse_weights", False),
        )

    def paper_probe(self, batch_size: int = 2) -> dict:
        """"HardNet + CSA" at `paper` scale: L2-Net with CSA (D = 32, one group) after the 3rd
        layer, 32×32 input ("The input images are resized to 32 × 32"), the HardNet loss and the
        paper's SGD (lr 10, momentum 0.9, wd 1e-4), one step on `batch_size` random pairs.  L2-Net
        is not a ResNet: the probe states the paper's input size and L2-Net's parameter count as
        what to hold it to (`expected_input_size`, `expected_parameters`: the attention-free
        network's; the module adds its own)."""
        import torch

        from dmlrepro.config import resolve_scale
        from dmlrepro.losses import build_loss
        from dmlrepro.models.l2net import INPUT_SIZE, L2NET_PARAMETERS
        from dmlrepro.training.patch_parts import build_l2net, build_optimizer

        scale = resolve_scale({"scale": "paper", "pretrained": "none"})
        paper_cell = {"model": "hardnet", "backbone": "l2net", "attention": "csa", "bases": DEFAULT_BASES,
                      "groups": 1, "layers": [PAPER_LAYER], "deep_supervision": False, "loss": {"hardnet": 1.0}}
        problem = self.cell_problem(paper_cell, paper_cell)
        if problem:
            raise AssertionError(problem)
        cell = self.resolve_cell(paper_cell, "brown_liberty", scale, "unused", "csa")
        training = cell["training"]
        model = build_l2net(cell["model"], training["dropout"]).train()
        loss_fn = build_loss(cell["loss"])
        optimizer = build_optimizer(model, training["optimizer"])
        size = training["input_size"]
        pairs = max(2, batch_size)
        loss = loss_fn(model(torch.rand(pairs, 1, *size)), model(torch.rand(pairs, 1, *size)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "input_size": list(size),
                "parameters": sum(p.numel() for p in model.parameters()),
                "expected_input_size": [INPUT_SIZE, INPUT_SIZE], "expected_parameters": L2NET_PARAMETERS}
