"""The HPatches release and task readers on the generated benchmark folder: the stacks of 65×65
patches, the task files' structure, splits, one-line errors for malformed input, and the protocol
run end to end on raw-pixel descriptors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from dmlrepro.data.patches.hpatches import (
    HPatchesLayoutError,
    HPatchesRelease,
    read_hpatches_tasks,
    read_splits,
    split_sequences,
)
from dmlrepro.data.patches.phototour import resize_patches
from dmlrepro.errors import UserError
from dmlrepro.evaluation.hpatches_protocol import HPATCHES_IMAGES, evaluate_hpatches, evaluate_matching


def release_of(root):
    return HPatchesRelease(root / "data" / "hpatches-release")


def test_reads_every_sequence_as_stacks_of_65x65_patches(hpatches_root, hpatches_config):
    config = hpatches_config
    release = release_of(hpatches_root)
    assert release.sequences == ["i_synth000", "i_synth002", "v_synth001", "v_synth003"]
    assert set(release.sizes.values()) == {config["points"]}
    images = release.load("v_synth001")
    assert list(images) == list(HPATCHES_IMAGES)
    png = np.asarray(Image.open(hpatches_root / "data" / "hpatches-release" / "v_synth001" / "h3.png"))
    assert png.shape == (65 * config["points"], 65)
    for k in (0, 5, config["points"] - 1):
        assert np.array_equal(images["h3"][k], png[65 * k:65 * (k + 1)])
    assert "4 sequences (2 illumination, 2 viewpoint)" in release.summary()


def test_reads_the_task_files_as_the_benchmark_draws_them(hpatches_root, hpatches_config):
    config = hpatches_config
    release = release_of(hpatches_root)
    verification, retrieval = read_hpatches_tasks(hpatches_root / "tasks", "full", release)
    pos, intra, inter = verification.positives, verification.intra, verification.inter
    assert len(pos) == len(intra) == len(inter) == config["pairs"]
    assert pos.seq1 == pos.seq2 and np.array_equal(pos.idx1, pos.idx2)
    assert (pos.image1 != pos.image2).all() and pos.image1.max() <= 4 and pos.image2.max() <= 4
    assert intra.seq1 == intra.seq2 and (intra.idx1 != intra.idx2).all()
    assert np.array_equal(intra.image1, pos.image1) and inter.seq1 == pos.seq1
    assert any(a != b for a, b in zip(inter.seq1, inter.seq2))
    queries = set(zip(retrieval.query_seq, retrieval.query_idx.tolist()))
    distractors = set(zip(retrieval.distractor_seq, retrieval.distractor_idx.tolist()))
    assert len(queries) == len(retrieval.query_seq) == config["queries"]
    assert not queries & distractors and len(distractors) == len(retrieval.distractor_seq)
    for seq, idx in queries | distractors:
        assert release.load(seq)["ref"][idx].std() > 10


def test_splits(hpatches_root):
    release = release_of(hpatches_root)
    assert split_sequences(release, "full") == release.sequences
    assert split_sequences(release, "illum", hpatches_root / "tasks") == ["i_synth000", "i_synth002"]
    assert set(read_splits(hpatches_root / "tasks")) == {"a", "b", "c", "full", "illum", "view"}
    with pytest.raises(UserError, match="split 'x' is not in"):
        split_sequences(release, "x", hpatches_root / "tasks")
    with pytest.raises(UserError, match="needs the benchmark's tasks folder"):
        split_sequences(release, "a")


def test_the_protocol_runs_on_raw_pixels_and_the_noise_levels_get_harder(hpatches_root):
    release = release_of(hpatches_root)
    verification, retrieval = read_hpatches_tasks(hpatches_root / "tasks", "full", release)
    descriptors = {}
    for seq, images in release:
        descriptors[seq] = {}
        for image, patches in images.items():
            x = resize_patches(patches, 32).reshape(len(patches), -1).astype(np.float64)
            x = x - x.mean(1, keepdims=True)
            descriptors[seq][image] = x / np.linalg.norm(x, axis=1, keepdims=True)
    result = evaluate_hpatches(descriptors, verification, retrieval, release.sequences, pool_sizes=(10, 30))
    for value in (result.verification, result.matching, result.retrieval):
        assert 0.05 < value < 0.99
    matching = evaluate_matching(descriptors, release.sequences)
    by_noise = {n: np.mean([v for (s, noise, i), v in matching.items() if noise == n]) for n in "eht"}
    assert by_noise["e"] > by_noise["h"] > by_noise["t"]
    assert np.mean([result.verification_ap[("e", k)] for k in ("inter", "intra")]) > \
        np.mean([result.verification_ap[("t", k)] for k in ("inter", "intra")])


@pytest.fixture
def broken(hpatches_root, tmp_path):
    shutil.copytree(hpatches_root, tmp_path / "bench")
    return tmp_path / "bench"


def expect_error(call, *fragments):
    with pytest.raises(HPatchesLayoutError) as error:
        call()
    message = str(error.value)
    assert isinstance(error.value, UserError) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_sequence_missing_a_file(broken):
    path = broken / "data" / "hpatches-release" / "v_synth003" / "t4.png"
    path.unlink()
    expect_error(lambda: release_of(broken), f"{path} is missing", "every sequence has ref, e1, e2")


def test_a_png_that_is_not_a_stack_of_65x65_patches(broken):
    path = broken / "data" / "hpatches-release" / "i_synth000" / "e2.png"
    Image.new("L", (64, 65 * 3)).save(path)
    expect_error(lambda: release_of(broken), str(path), "64x195", "65 wide")


def test_images_with_different_patch_counts(broken):
    path = broken / "data" / "hpatches-release" / "i_synth000" / "e2.png"
    Image.new("L", (65, 65 * 3)).save(path)
    expect_error(lambda: release_of(broken), str(path), "holds 3 patches but ref.png holds 24")


def test_a_sequence_not_named_i_or_v(broken):
    release = broken / "data" / "hpatches-release"
    (release / "i_synth000").rename(release / "x_synth000")
    expect_error(lambda: release_of(broken), "x_synth000", "start with i_ (illumination) or v_ (viewpoint)")


def test_a_missing_release_folder(tmp_path):
    expect_error(lambda: HPatchesRelease(tmp_path / "nope"), "HPatches release folder", "hpatches-release/<seq>/{ref,e1")


def test_a_task_file_naming_a_patch_out_of_range(broken):
    path = broken / "tasks" / "verif_neg_intra_split-full.csv"
    lines = path.read_text().splitlines()
    seq = lines[3].split(",")[0]
    lines[3] = f"{seq},0,1,{seq},1,99"
    path.write_text("\n".join(lines) + "\n")
    expect_error(lambda: read_hpatches_tasks(broken / "tasks", "full", release_of(broken)),
                 f"{path}:4: patch index 99 is out of range", "(0..23)")


def test_a_task_file_with_another_header(broken):
    path = broken / "tasks" / "retr_queries_split-full.csv"
    path.write_text("seq,index\n" + "\n".join(path.read_text().splitlines()[1:]) + "\n")
    expect_error(lambda: read_hpatches_tasks(broken / "tasks", "full", release_of(broken)), str(path),
                 "expected the header s,idx")


def test_a_task_file_naming_an_unknown_sequence(broken):
    path = broken / "tasks" / "retr_distractors_split-full.csv"
    path.write_text(path.read_text() + "v_missing,3\n")
    expect_error(lambda: read_hpatches_tasks(broken / "tasks", "full", release_of(broken)), str(path),
                 "sequence 'v_missing' is not in the release")
