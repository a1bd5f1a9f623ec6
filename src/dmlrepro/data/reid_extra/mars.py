"""MARS (Zheng et al., ECCV 2016), AiA-Net's video benchmark (002_e585b7ac4801a221.txt, Sec. 5.5,
Table 13: 1,261 identities, 6 cameras; 8,298 training tracklets; 1,980 query tracklets among
12,180 test tracklets).

Read in torchreid's layout (``torchreid/data/datasets/video/mars.py``): ``<root>/mars/`` holding
``bbox_train/`` and ``bbox_test/`` (one folder per pid, ``0001/0001C1T0001F001.jpg``: pid, camera,
tracklet, frame; junk is ``00-1``, distractors ``0000``) and ``info/`` with ``train_name.txt`` and
``test_name.txt`` (every frame name, in tracklet order), ``tracks_train_info.mat`` and
``tracks_test_info.mat`` (``track_*_info``, one row per tracklet: first and last frame as 1-based
inclusive line numbers of the name list, pid, camera 1-6) and ``query_IDX.mat`` (``query_IDX``,
1-based rows of the test tracks that are queries).

As in torchreid: tracklets with pid -1 (junk) are dropped; every frame of a tracklet must come
from one pid folder prefix and one camera; query = the ``query_IDX`` rows, gallery = the other
test rows (the official evaluation also ranks the queries, which
``dmlrepro.evaluation.video_reid`` adds back); train pids are relabelled (in pid order here;
torchreid uses set order). Every frame of a tracklet is kept (``min_frames`` drops shorter
tracklets, torchreid's ``min_seq_len``); frame selection is the caller's. Checked at load, each a
one-line error: unreadable .mat files and missing variables, track rows that are not (n, 4)
integers, a frame range outside the name list, a camera outside 1-6, a query index outside the
test tracks, and the first and last frame file of every tracklet (all 1.2 million frames are not
stat'ed).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dmlrepro.data.reid_extra.common import (
    ExtraLayout,
    Tracklet,
    VideoReIDDataset,
    check_files,
    integer_array,
    load_mat,
    read_lines,
    relabel,
    resolve_dataset_dir,
)
from dmlrepro.data.reid_extra.registry import register_extra_dataset

NUM_CAMS = 6
JUNK_PID = -1
NAME_PATTERN = re.compile(r"(\d{4}|00-1)C(\d)T\d{4}F\d{3}\.jpg")
INFO = {"train": ("info/train_name.txt", "info/tracks_train_info.mat", "track_train_info", "bbox_train"),
        "test": ("info/test_name.txt", "info/tracks_test_info.mat", "track_test_info", "bbox_test")}
QUERY_IDX = ("info/query_IDX.mat", "query_IDX")

MARS = ExtraLayout(
    name="mars",
    subdirs=("mars", "."),
    required=("bbox_train/", "bbox_test/", "info/train_name.txt", "info/test_name.txt",
              "info/tracks_train_info.mat", "info/tracks_test_info.mat", "info/query_IDX.mat"),
    contents=("bbox_train/ and bbox_test/ (<pid>/<pid>C<cam>T<track>F<frame>.jpg) and info/ with "
              "{train,test}_name.txt, tracks_{train,test}_info.mat and query_IDX.mat"),
)


@register_extra_dataset("mars")
def mars(root: str | Path, min_frames: int = 0) -> VideoReIDDataset:
    """MARS from the data root ``root`` (or the ``mars`` folder itself)."""
    root, dataset_dir = resolve_dataset_dir(MARS, root)
    train = read_tracklets(root, dataset_dir, "train", None, min_frames)
    tracks_test = read_tracks(root, dataset_dir, "test")
    path = dataset_dir / QUERY_IDX[0]
    query_idx = integer_array(MARS, root, path, QUERY_IDX[1], load_mat(MARS, root, path, QUERY_IDX[1])).ravel()
    if len(query_idx) == 0 or query_idx.min() < 1 or query_idx.max() > len(tracks_test[1]):
        low, high = (int(query_idx.min()), int(query_idx.max())) if len(query_idx) else (0, 0)
        MARS.fail(root, path, f"query_IDX holds {low}..{high}, outside the {len(tracks_test[1])} test "
                              "tracks (1-based)")
    is_query = np.zeros(len(tracks_test[1]), dtype=bool)
    is_query[query_idx - 1] = True
    query = read_tracklets(root, dataset_dir, "test", is_query, min_frames, tracks_test)
    gallery = read_tracklets(root, dataset_dir, "test", ~is_query, min_frames, tracks_test)
    return VideoReIDDataset("mars", dataset_dir, relabel(train), query, gallery)


def read_tracks(root: Path, dataset_dir: Path, split: str) -> tuple[list[str], np.ndarray]:
    """The frame names and the (n, 4) track rows of ``split``."""
    names_file, mat_file, key, _ = INFO[split]
    names = [line for _, line in read_lines(MARS, root, dataset_dir / names_file)]
    path = dataset_dir / mat_file
    tracks = integer_array(MARS, root, path, key, load_mat(MARS, root, path, key))
    if tracks.ndim != 2 or tracks.shape[1] != 4 or len(tracks) == 0:
        MARS.fail(root, path, f"{key!r} must be an (n, 4) array of start, end, pid, camera; got shape "
                              f"{tracks.shape}")
    return names, tracks


def read_tracklets(root: Path, dataset_dir: Path, split: str, keep: np.ndarray | None,
                   min_frames: int, tracks: tuple[list[str], np.ndarray] | None = None) -> list[Tracklet]:
    """The tracklets of the ``keep`` rows (all when None) of ``split``'s tracks, junk dropped."""
    names, rows = tracks or read_tracks(root, dataset_dir, split)
    names_file, mat_file, _, home = INFO[split]
    tracklets, ends = [], []
    for number, (start, end, pid, camera) in enumerate(rows.tolist(), start=1):
        if keep is not None and not keep[number - 1]:
            continue
        where = f"{dataset_dir / mat_file} row {number}"
        if not 1 <= start <= end <= len(names):
            MARS.fail(root, where, f"frames {start}..{end} are outside the {len(names)} names of "
                                   f"{Path(names_file).name} (1-based, inclusive)")
        if not 1 <= camera <= NUM_CAMS:
            MARS.fail(root, where, f"camera {camera} is outside 1..{NUM_CAMS}")
        if pid == JUNK_PID:
            continue
        frames = names[start - 1:end]
        matches = [NAME_PATTERN.fullmatch(name) for name in frames]
        if any(m is None for m in matches):
            bad = frames[[m is None for m in matches].index(True)]
            MARS.fail(root, where, f"frame name {bad!r} is not <pid>C<cam>T<track>F<frame>.jpg")
        if len({m.group(1) for m in matches}) != 1 or len({m.group(2) for m in matches}) != 1:
            MARS.fail(root, where, "a tracklet's frames must share one person and one camera")
        if len(frames) < min_frames:
            continue
        paths = tuple(str(dataset_dir / home / name[:4] / name) for name in frames)
        tracklets.append((paths, pid, camera - 1))
        ends += [paths[0], paths[-1]]
    check_files(MARS, root, ends, names_file)
    return tracklets
