"""The PhotoTour reader on the generated layout: patch i at tile i // 256 row-major, equality with
torchvision's own reading functions, HardNet's 32×32 resize, and one-line errors for malformed
folders."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from PIL import Image

from dmlrepro.data.patches.phototour import (
    INFO_FILE,
    MATCHES_FILE,
    PhotoTourLayoutError,
    read_phototour,
    resize_patches,
)
from dmlrepro.errors import UserError


def test_reads_the_generated_subset(brown_root):
    subset = read_phototour(brown_root, "liberty")
    n = len(subset)
    assert subset.patches.shape == (n, 64, 64) and subset.patches.dtype == np.uint8
    assert len(list((brown_root / "liberty").glob("patches*.bmp"))) == math.ceil(n / 256) >= 2
    assert n == len((brown_root / "liberty" / INFO_FILE).read_text().splitlines())
    assert subset.matches.shape == (400, 3) and subset.matches[:, 2].sum() == 200
    match = subset.matches[subset.matches[:, 2] == 1]
    other = subset.matches[subset.matches[:, 2] == 0]
    assert (subset.labels[match[:, 0]] == subset.labels[match[:, 1]]).all()
    assert (subset.labels[other[:, 0]] != subset.labels[other[:, 1]]).all()
    assert "liberty: " in subset.summary() and "150 3-D points" in subset.summary()


def test_patch_i_is_in_tile_i_div_256_row_major(brown_root):
    subset = read_phototour(brown_root, "liberty")
    tiles = sorted((brown_root / "liberty").glob("patches*.bmp"))
    for i in (0, 1, 15, 16, 17, 255, 256, 300, len(subset) - 1):
        tile = np.asarray(Image.open(tiles[i // 256]))
        row, col = divmod(i % 256, 16)
        assert np.array_equal(subset.patches[i], tile[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision's use of Image.getdata
def test_equals_torchvisions_reading_functions(brown_root):
    phototour = pytest.importorskip("torchvision.datasets.phototour")
    subset = read_phototour(brown_root, "yosemite")
    folder = str(brown_root / "yosemite")
    assert np.array_equal(phototour.read_image_file(folder, "bmp", len(subset)).numpy(), subset.patches)
    assert np.array_equal(phototour.read_info_file(folder, INFO_FILE).numpy(), subset.labels)
    assert np.array_equal(phototour.read_matches_files(folder, MATCHES_FILE).numpy(), subset.matches)


def test_hardnets_32x32_is_the_rounded_2x2_mean(brown_root):
    full = read_phototour(brown_root, "liberty")
    small = read_phototour(brown_root, "liberty", size=32)
    blocks = full.patches.reshape(-1, 32, 2, 32, 2).astype(np.int64).sum(axis=(2, 4))
    expected = np.floor(blocks / 4 + 0.5).astype(np.uint8)
    assert np.array_equal(small.patches, expected)
    assert np.array_equal(resize_patches(full.patches[:5], 32), expected[:5])
    assert resize_patches(np.zeros((2, 65, 65), np.uint8) + 7, 32).shape == (2, 32, 32)


@pytest.fixture
def broken(brown_root, tmp_path):
    """A fresh copy of the generated liberty subset to break."""
    shutil.copytree(brown_root / "liberty", tmp_path / "liberty")
    return tmp_path


def expect_error(root, *fragments):
    with pytest.raises(PhotoTourLayoutError) as error:
        read_phototour(root, "liberty")
    message = str(error.value)
    assert isinstance(error.value, UserError) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_missing_folder_names_the_expected_layout(tmp_path):
    expect_error(tmp_path, f"PhotoTour subset folder {tmp_path / 'liberty'} not found",
                 "<root>/<name>/patches*.bmp (1024x1024 tiles of 256 64x64 patches, row-major)", "info.txt")


def test_tile_count_that_does_not_match_info_txt(broken):
    tiles = sorted((broken / "liberty").glob("patches*.bmp"))
    tiles[-1].unlink()
    n = len((broken / "liberty" / INFO_FILE).read_text().splitlines())
    expect_error(broken, str(broken / "liberty"), f"{len(tiles) - 1} patches*.bmp tiles for the {n} patches of info.txt",
                 f"expected {len(tiles)}")


def test_extra_info_lines_also_break_the_tile_count(broken):
    info = broken / "liberty" / INFO_FILE
    info.write_text(info.read_text() + "7 0\n" * 600)
    expect_error(broken, "tiles for the", "expected")


def test_a_pair_naming_a_patch_out_of_range(broken):
    path = broken / "liberty" / MATCHES_FILE
    lines = path.read_text().splitlines()
    n = len((broken / "liberty" / INFO_FILE).read_text().splitlines())
    lines[4] = f"{n + 3} 0 0 1 0 0"
    path.write_text("\n".join(lines) + "\n")
    expect_error(broken, f"{path}:5: patch index {n + 3} is out of range", f"(0..{n - 1})")


def test_pairs_from_another_subset_are_refused(broken):
    path = broken / "liberty" / MATCHES_FILE
    lines = path.read_text().split("\n")
    fields = lines[0].split()
    fields[1] = str(int(fields[1]) + 1)
    lines[0] = " ".join(fields)
    path.write_text("\n".join(lines))
    expect_error(broken, f"{path}:1:", "the pairs file is from another subset")


def test_a_tile_of_the_wrong_size(broken):
    tile = sorted((broken / "liberty").glob("patches*.bmp"))[0]
    Image.new("L", (512, 1024)).save(tile)
    expect_error(broken, str(tile), "512x1024", "expected a 1024x1024 grey tile")


@pytest.mark.parametrize("name", [INFO_FILE, MATCHES_FILE])
def test_a_missing_list_file(broken, name):
    (broken / "liberty" / name).unlink()
    expect_error(broken, f"{broken / 'liberty' / name} not found")
