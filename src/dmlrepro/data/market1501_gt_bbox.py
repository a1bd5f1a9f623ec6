"""Market-1501's ``gt_bbox`` folder, the images of its multi-query protocol (Zheng et al., ICCV
2015; AiA-Net Table 11 "Market-1501 @ MQ", 002_e585b7ac4801a221.txt Sec. 5.1).

The release holds ``Market-1501-v15.09.15/gt_bbox/``: hand-drawn boxes of the test identities
(25,259 images), named like the other splits (``PPPP_cCsS_FFFFFF_NN.jpg``).  The official
multi-query evaluation (the MATLAB ``baseline_evaluation``, and layumi's
Person_reID_baseline_pytorch ``prepare.py`` / ``evaluate_gpu.py`` which copies it) represents a
query by the mean of the features of every ``gt_bbox`` image of its identity taken by its
camera.  torchreid has no multi-query mode.

The synthetic stand-in has no hand-drawn boxes; ``write_synthetic_gt_bbox`` gives it a
``gt_bbox`` of the same kind: every query image and every gallery image of a query identity under
a query's camera, copied (so a query's multi-query set holds itself and its identity's other
same-camera views).  Only the multi-query protocol reads this folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dmlrepro.data.market1501 import MARKET1501
from dmlrepro.data.reid_dataset import Item, parse_split
from dmlrepro.errors import UserError

FOLDER = "gt_bbox"


def read_gt_bbox(dataset_dir: str | Path) -> list[Item]:
    """``(img_path, pid, camid)`` of every gt_bbox image of a Market-1501 folder (pids kept)."""
    folder = Path(dataset_dir) / FOLDER
    if not folder.is_dir():
        raise UserError(f"{folder}: missing folder (Market-1501's multi-query images); unpack gt_bbox/ of "
                        "Market-1501-v15.09.15 beside query/, or regenerate the synthetic data")
    return parse_split(MARKET1501, folder, Path(dataset_dir), relabel=False)


def write_synthetic_gt_bbox(dataset_dir: str | Path, query: list[Item], gallery: list[Item]) -> Path:
    """The synthetic gt_bbox (module docstring) of a generated Market-1501 folder; kept if there."""
    folder = Path(dataset_dir) / FOLDER
    if folder.is_dir():
        return folder
    wanted = {(pid, cam) for _, pid, cam in query}
    tmp = folder.with_name(FOLDER + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for path, pid, cam in list(query) + [g for g in gallery if (g[1], g[2]) in wanted]:
        shutil.copyfile(path, tmp / Path(path).name)
    tmp.rename(folder)
    return folder
