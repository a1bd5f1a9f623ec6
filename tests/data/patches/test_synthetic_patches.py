"""The synthetic Brown and HPatches stand-ins: views of one 3-D point are closer than random
patches in normalised raw pixels but far from separable, the subsets differ, the output is
deterministic, and the folders are written once, atomically, and never over someone else's."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from dmlrepro.data.patches import synthetic_patches as synthetic
from dmlrepro.data.patches.phototour import read_phototour
from dmlrepro.evaluation.fpr95 import fpr95


def normalised(patches: np.ndarray) -> np.ndarray:
    x = patches.reshape(len(patches), -1).astype(np.float64)
    x = x - x.mean(1, keepdims=True)
    return x / (x.std(1, ddof=1, keepdims=True) + 1e-7)


@pytest.mark.parametrize("name", ["liberty", "yosemite"])
def test_views_of_a_point_are_closer_than_random_but_not_separable(brown_root, name):
    subset = read_phototour(brown_root, name, size=32)
    x = normalised(subset.patches)
    m = subset.matches
    d = np.linalg.norm(x[m[:, 0]] - x[m[:, 1]], axis=1)
    same, other = d[m[:, 2] == 1], d[m[:, 2] == 0]
    assert same.mean() < 0.85 * other.mean()
    assert fpr95(d, m[:, 2]) > 0.2  # raw pixels are far from enough: matching has to be learned


def test_subsets_have_their_own_scenes(brown_root):
    def sharp_edges(name):  # fraction of horizontal steps over 40 grey levels
        patches = read_phototour(brown_root, name).patches.astype(np.float64)
        return (np.abs(np.diff(patches, axis=-1)) > 40).mean()

    # liberty's scenes are mostly man-made shapes, yosemite's natural noise and strokes
    assert sharp_edges("liberty") > 1.4 * sharp_edges("yosemite")


def test_the_same_seed_writes_the_same_pixels(tmp_path):
    small = dict(seed=3, points=20, pairs=40)
    a = synthetic.render_phototour_subset("notredame", synthetic.PhotoTourConfig(**small))
    b = synthetic.render_phototour_subset("notredame", synthetic.PhotoTourConfig(**small))
    c = synthetic.render_phototour_subset("notredame", synthetic.PhotoTourConfig(**{**small, "seed": 4}))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0][: len(a[0])])


def test_hpatches_targets_drift_from_ref_with_the_noise_level(hpatches_root):
    from dmlrepro.data.patches.hpatches import HPatchesRelease

    release = HPatchesRelease(hpatches_root / "data" / "hpatches-release")
    gaps = {n: [] for n in "eht"}
    for seq, images in release:
        ref = normalised(images["ref"])
        for n in "eht":
            gaps[n] += [np.linalg.norm(ref - normalised(images[f"{n}{i}"]), axis=1).mean() for i in range(1, 6)]
    assert np.mean(gaps["e"]) < np.mean(gaps["h"]) < np.mean(gaps["t"])
    marker = json.loads((hpatches_root / synthetic.MARKER_NAME).read_text())
    assert marker["generator"] == synthetic.GENERATOR and marker["sequences"] == 4


def digest(folder):
    return hashlib.sha1(b"".join(p.read_bytes() for p in sorted(folder.glob("patches*.bmp")))).hexdigest()


def test_a_complete_subset_is_left_alone_and_others_are_refused(tmp_path):
    small = dict(seed=0, points=12, pairs=20, names=("liberty",))
    folder = synthetic.generate_phototour(tmp_path, **small)["liberty"]
    stamp = (folder / synthetic.MARKER_NAME).stat().st_mtime_ns
    synthetic.generate_phototour(tmp_path, **small)
    assert (folder / synthetic.MARKER_NAME).stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="holds a synthetic dataset with other parameters"):
        synthetic.generate_phototour(tmp_path, **{**small, "points": 13})
    before = digest(folder)
    synthetic.generate_phototour(tmp_path, **{**small, "points": 13}, overwrite=True)
    assert digest(folder) != before
    foreign = tmp_path / "other"
    (foreign / "yosemite").mkdir(parents=True)
    (foreign / "yosemite" / "mine.txt").write_text("not yours")
    with pytest.raises(FileExistsError, match="refusing to replace"):
        synthetic.generate_phototour(foreign, seed=0, points=12, pairs=20, names=("yosemite",))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_cli_writes_a_readable_subset(tmp_path, capsys):
    assert synthetic.main(["--layout", "phototour", "--out", str(tmp_path), "--points", "10", "--pairs", "20"]) == 0
    assert "liberty: " in capsys.readouterr().out
    assert read_phototour(tmp_path, "yosemite").matches.shape == (20, 3)
