"""CUHK03 under the vanilla (classic) protocol of Li et al., CVPR 2014, as AiA-Net reports it
(002_e585b7ac4801a221.txt, Sec. 5.1: 13,164 images of 1,467 identities, 5 camera pairs; the vanilla
protocol trains on 1,367 identities and tests on 100, over 20 splits; labeled and detected boxes;
Table 9). The new 767/700 protocol is ``dmlrepro.data.cuhk03np``.

What torchreid reads (``torchreid/data/datasets/image/cuhk03.py``): ``cuhk03/cuhk03_release/
cuhk-03.mat``, a MATLAB v7.3 (HDF5) file holding the images of both box types and the 20 vanilla
test sets (``testsets``: 100 (camera pair, person) pairs each). On first use it converts that file
(with h5py) into ``cuhk03/images_{detected,labeled}/`` png files named ``P_NNN_V_II.png``
(camera pair 1-5, person in the pair, view 1-2, image 1-10) and ``cuhk03/
splits_classic_{detected,labeled}.json``, its 20 splits as ``[path, pid, camid]`` lists (query =
gallery = the 100 test identities; camid = view - 1; train and test pids numbered in file order).

Read here: **that converted layout** — the two image folders and the two split files, which
represent the 20 vanilla splits exactly as torchreid derives them from ``testsets`` (images found
by file name, so the folder may have moved). The .mat itself is not converted: reading HDF5 needs
h5py, which is not a dependency of this project. A ``cuhk-03.mat`` without the converted files is
reported with the fix (run torchreid's ``CUHK03(root, cuhk03_classic_split=True)`` once, which
writes them), and one that is not HDF5 at all (no HDF5 signature at byte 0 or 512) is reported as
such. Evaluation of the vanilla protocol uses the CUHK03 single-gallery-shot metric, not this
module.
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.data.reid_dataset import ReIDDataset
from dmlrepro.data.reid_extra.common import (
    ExtraLayout,
    read_torchreid_splits,
    relabel,
    resolve_dataset_dir,
)
from dmlrepro.data.reid_extra.registry import register_extra_dataset

BOXES = ("detected", "labeled")
#: the vanilla protocol's splits (Sec. 5.1: "20 splits"; ``testsets`` of cuhk-03.mat); a cell's
#: ``split`` selects one (dmlrepro.tasks.reid.SPLIT_DATASETS, dmlrepro.tables.splits)
NUM_SPLITS = 20
RAW_MAT = "cuhk03_release/cuhk-03.mat"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

CUHK03_CLASSIC = ExtraLayout(
    name="cuhk03_classic",
    subdirs=("cuhk03", "."),
    required=("images_detected/", "images_labeled/", "splits_classic_detected.json",
              "splits_classic_labeled.json"),
    contents=("torchreid's conversion of cuhk03_release/cuhk-03.mat: images_{detected,labeled}/ "
              "(P_NNN_V_II.png) and splits_classic_{detected,labeled}.json (20 vanilla splits)"),
)


@register_extra_dataset("cuhk03_classic")
def cuhk03_classic(root: str | Path, boxes: str = "detected", split_id: int = 0) -> ReIDDataset:
    """Vanilla-protocol split ``split_id`` (0-19) of CUHK03 with ``boxes`` (``detected`` or
    ``labeled``) from the data root ``root`` (or the ``cuhk03`` folder itself): its training
    identities (relabelled 0..n-1) and its test identities as query = gallery.  A ``split_id``
    the split file does not have is a one-line error naming the file and its number of splits."""
    root = Path(root).expanduser()
    if boxes not in BOXES:
        CUHK03_CLASSIC.fail(root, root, f"unknown boxes {boxes!r}", f"choose boxes from {', '.join(BOXES)}")
    check_raw_mat(root)
    root, dataset_dir = resolve_dataset_dir(CUHK03_CLASSIC, root)
    split = read_torchreid_splits(CUHK03_CLASSIC, root, dataset_dir / f"splits_classic_{boxes}.json",
                                  dataset_dir / f"images_{boxes}", split_id)
    return ReIDDataset(f"cuhk03_classic_{boxes}", dataset_dir, relabel(split["train"]),
                       split["query"], split["gallery"])


def check_raw_mat(root: Path) -> None:
    """A ``cuhk-03.mat`` without torchreid's converted files: say how to convert it (or that it is
    not the HDF5 file it should be)."""
    for subdir in CUHK03_CLASSIC.subdirs:
        dataset_dir = root if subdir == "." else root / subdir
        mat = dataset_dir / RAW_MAT
        if not mat.is_file():
            continue
        if not is_hdf5(mat):
            CUHK03_CLASSIC.fail(root, mat, "not a MATLAB v7.3 (HDF5) file",
                                "download cuhk03_release.zip again (its cuhk-03.mat is HDF5)")
        if not (dataset_dir / "splits_classic_detected.json").is_file():
            CUHK03_CLASSIC.fail(root, mat, "cuhk-03.mat is not converted (reading HDF5 needs h5py, "
                                           "which this project does not use)",
                                "run torchreid's CUHK03(root, cuhk03_classic_split=True) once, which "
                                "writes images_{detected,labeled}/ and splits_classic_*.json beside it")
        return


def is_hdf5(path: Path) -> bool:
    """HDF5's signature at byte 0, or at 512 after a MATLAB v7.3 header."""
    with path.open("rb") as handle:
        head = handle.read(512 + len(HDF5_SIGNATURE))
    return head.startswith(HDF5_SIGNATURE) or head[512:] == HDF5_SIGNATURE
