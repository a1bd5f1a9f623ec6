"""The four class-split retrieval loaders, run over the registry itself (timm style) on the
embedded synthetic layouts, and each malformed layout's one-line error."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from dmlrepro.data.retrieval import (
    RetrievalLayoutError,
    build_retrieval_dataset,
    list_retrieval_datasets,
)
from dmlrepro.data.retrieval.synthetic_retrieval import VARIANTS, RetrievalSyntheticConfig, plan_dataset
from dmlrepro.errors import UserError

NAMES = list_retrieval_datasets()


def _plan(name: str, small: dict):
    return plan_dataset(RetrievalSyntheticConfig(name, seed=0, **small))


def _folder(root: Path, name: str) -> Path:
    return root / VARIANTS[name].layout.canonical_subdir


def _assert_one_line_naming(error: pytest.ExceptionInfo, name: str, path: Path | str) -> None:
    message = str(error.value)
    assert isinstance(error.value, UserError)
    assert "\n" not in message
    assert message.startswith(f"{name}: ")
    assert str(path) in message
    assert f"expected <root>/{VARIANTS[name].layout.canonical_subdir}/ holding" in message


def test_registry_lists_the_four_datasets_and_rejects_others(tmp_path):
    assert NAMES == ["cars196", "cub200", "inshop", "sop"]
    with pytest.raises(UserError, match="valid names: cars196, cub200, inshop, sop"):
        build_retrieval_dataset("market1501", tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_reads_the_generated_layout_with_the_planned_counts(generated, small, name):
    dataset = build_retrieval_dataset(name, generated[name])
    plan = _plan(name, small)
    train_ids = sorted(c for c, spec in plan.classes.items() if spec.split == "train")
    test_ids = sorted(c for c, spec in plan.classes.items() if spec.split == "test")
    planned = Counter(spec.class_id for spec in plan.images)
    assert dataset.root == _folder(generated[name], name)
    assert dataset.train_class_ids == tuple(train_ids)
    assert sorted({label for _, label in dataset.train}) == list(range(small["num_train_classes"]))
    assert Counter(dataset.train_class_ids[label] for _, label in dataset.train) == {
        c: planned[c] for c in train_ids}
    assert Counter(label for _, label in dataset.test) == {c: planned[c] for c in test_ids}
    assert all(Path(path).is_file() for path, _ in dataset.train + dataset.test)
    assert dataset.synthetic is not None and dataset.synthetic["variant"] == name
    summary = dataset.summary()
    assert "\n" not in summary
    assert f"train {small['num_train_classes']} classes / {len(dataset.train)} images" in summary
    assert "synthetic data" in summary


@pytest.mark.parametrize("name", NAMES)
def test_train_and_test_classes_are_disjoint(generated, name):
    dataset = build_retrieval_dataset(name, generated[name])
    test_classes = {label for _, label in dataset.test}
    assert test_classes and not test_classes & set(dataset.train_class_ids)
    assert not {p for p, _ in dataset.train} & {p for p, _ in dataset.test}


@pytest.mark.parametrize("name", NAMES)
def test_accepts_the_data_root_and_the_dataset_folder_itself(generated, name):
    via_root = build_retrieval_dataset(name, generated[name])
    direct = build_retrieval_dataset(name, str(via_root.root))
    assert direct.root == via_root.root
    assert (direct.train, direct.test, direct.query) == (via_root.train, via_root.test, via_root.query)


def test_split_rules_follow_the_real_class_ids(generated):
    # CUB 1-100 / 101-200 and Cars 1-98 / 99-196 split by class id; SOP's files hold 1..11318 and
    # 11319..22634: the generator writes ids in those ranges so that the same rules apply.
    assert max(build_retrieval_dataset("cub200", generated["cub200"]).train_class_ids) <= 100
    assert min(label for _, label in build_retrieval_dataset("cub200", generated["cub200"]).test) == 101
    assert min(label for _, label in build_retrieval_dataset("cars196", generated["cars196"]).test) == 99
    assert min(label for _, label in build_retrieval_dataset("sop", generated["sop"]).test) == 11319


def test_inshop_ranks_query_against_gallery_of_the_same_items(generated):
    dataset = build_retrieval_dataset("inshop", generated["inshop"])
    query_items = {label for _, label in dataset.query}
    gallery_items = {label for _, label in dataset.gallery}
    assert query_items == gallery_items  # every test item has >= 2 images here, so both sets
    assert sorted(dataset.test) == sorted(dataset.query + dataset.gallery)
    assert not {p for p, _ in dataset.query} & {p for p, _ in dataset.gallery}
    assert dataset.protocol == "query_gallery"
    queries, references, exclude_self = dataset.retrieval_sets()
    assert (queries, references, exclude_self) == (dataset.query, dataset.gallery, False)
    # The item numbers of train and test interleave, so relabelling is not the identity.
    assert dataset.train_class_ids != tuple(range(1, dataset.num_train_classes + 1))


def test_inshop_accepts_proxy_anchors_img_folder(copy_of):
    root = copy_of("inshop")
    folder = root / "Inshop_Clothes"
    (folder / "Img").mkdir()
    shutil.move(folder / "img", folder / "Img" / "img")
    dataset = build_retrieval_dataset("inshop", root)
    assert all(path.startswith(str(folder / "Img" / "img")) for path, _ in dataset.query)


def test_cars_mat_reads_the_way_proxy_anchor_indexes_it(generated):
    # Proxy-Anchor's cars.py: label = annotation field 5 - 1, path = field 0 (positional).
    dataset = build_retrieval_dataset("cars196", generated["cars196"])
    mat = scipy.io.loadmat(dataset.root / "cars_annos.mat")
    annotations = mat["annotations"][0]
    positional = {str(dataset.root / a[0][0]): int(a[5][0][0]) for a in annotations}
    loaded = {path: dataset.train_class_ids[label] for path, label in dataset.train}
    loaded.update(dict(dataset.test))
    assert positional == loaded
    height, width = VARIANTS["cars196"].image_size
    for a in annotations:
        x1, y1, x2, y2 = (int(a[k][0][0]) for k in (1, 2, 3, 4))
        assert 1 <= x1 < x2 <= width and 1 <= y1 < y2 <= height
    assert mat["class_names"].shape == (1, max(label for _, label in dataset.test))


def test_cub_class_folders_carry_the_class_id(generated):
    dataset = build_retrieval_dataset("cub200", generated["cub200"])
    for path, label in dataset.test:
        assert Path(path).parent.name.startswith(f"{label:03d}.")


# ---------------------------------------------------------------------------------------------
# Malformed layouts: each a one-line UserError naming the path and the expected layout.


def test_missing_root_is_reported(tmp_path):
    with pytest.raises(RetrievalLayoutError, match="data root does not exist") as error:
        build_retrieval_dataset("cub200", tmp_path / "nowhere")
    _assert_one_line_naming(error, "cub200", tmp_path / "nowhere")
    assert "python -m dmlrepro.data.retrieval.synthetic_retrieval --variant cub200" in str(error.value)


@pytest.mark.parametrize("name", NAMES)
def test_root_without_the_dataset_is_reported(name, tmp_path):
    (tmp_path / "something_else").mkdir()
    with pytest.raises(RetrievalLayoutError, match=f"no {name} dataset found") as error:
        build_retrieval_dataset(name, tmp_path)
    _assert_one_line_naming(error, name, tmp_path)


@pytest.mark.parametrize(("name", "entry"), [(name, entry) for name in NAMES
                                             for entry in VARIANTS[name].layout.required])
def test_each_missing_required_entry_is_reported(copy_of, name, entry):
    root = copy_of(name)
    path = _folder(root, name) / entry.rstrip("/")
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    if len(VARIANTS[name].layout.required) == 1:  # nothing left to recognise the folder by
        with pytest.raises(RetrievalLayoutError, match=f"no {name} dataset found"):
            build_retrieval_dataset(name, root)
        return
    with pytest.raises(RetrievalLayoutError, match="missing (file|folder)") as error:
        build_retrieval_dataset(name, root)
    _assert_one_line_naming(error, name, path)


@pytest.mark.parametrize("name", NAMES)
def test_a_listed_image_that_is_missing_is_reported(copy_of, name):
    root = copy_of(name)
    dataset = build_retrieval_dataset(name, root)
    missing = Path(dataset.test[-1][0])
    missing.unlink()
    with pytest.raises(RetrievalLayoutError, match="does not exist") as error:
        build_retrieval_dataset(name, root)
    _assert_one_line_naming(error, name, missing)


def _edit_line(path: Path, number: int, change) -> str:
    lines = path.read_text().splitlines()
    lines[number - 1] = change(lines[number - 1])
    path.write_text("\n".join(lines) + "\n")
    return f"{path}:{number}"


def _fields(index: int, value: str):
    def change(line: str) -> str:
        fields = line.split()
        fields[index] = value
        return " ".join(fields)
    return change


def _append(text: str):
    return lambda line: f"{line} {text}"


# (dataset, file, line, change, message): line 0 means the whole file is replaced by `change`.
TEXT_CASES = [
    ("cub200", "images.txt", 2, _append("extra"), "line has 3 fields"),
    ("cub200", "images.txt", 1, lambda line: line.split()[0], "line has 1 fields"),
    ("cub200", "images.txt", 3, _fields(0, "x7"), "image id 'x7' is not an integer"),
    ("cub200", "images.txt", 3, _fields(0, "1"), "image id 1 is listed twice"),
    ("cub200", "image_class_labels.txt", 2, _fields(1, "201"), "class 201 is out of range 1..200"),
    ("cub200", "image_class_labels.txt", 2, _fields(1, "0"), "class 0 is out of range 1..200"),
    ("cub200", "image_class_labels.txt", 2, _fields(0, "99999"), "is not listed"),
    ("sop", "Ebay_train.txt", 1, lambda line: "image_id class_id path", "header is"),
    ("sop", "Ebay_train.txt", 2, _append("x"), "line has 5 fields"),
    ("sop", "Ebay_train.txt", 2, _fields(1, "11319"), "class_id 11319 is out of range 1..11318"),
    ("sop", "Ebay_test.txt", 2, _fields(1, "5"), "class_id 5 is out of range 11319..22634"),
    ("sop", "Ebay_test.txt", 2, _fields(2, "13"), "super_class_id 13 is out of range 1..12"),
    ("sop", "Ebay_test.txt", 3, _fields(2, "one"), "super_class_id 'one' is not an integer"),
    ("inshop", "Eval/list_eval_partition.txt", 1, lambda line: "7", "line 1 says 7 images"),
    ("inshop", "Eval/list_eval_partition.txt", 1, lambda line: "many", "image count (line 1) 'many'"),
    ("inshop", "Eval/list_eval_partition.txt", 2, lambda line: "image_name item_id", "header is"),
    ("inshop", "Eval/list_eval_partition.txt", 3, _fields(2, "val"), "evaluation_status 'val' is not one of"),
    ("inshop", "Eval/list_eval_partition.txt", 3, _fields(1, "item_7"), "'item_7' is not id_XXXXXXXX"),
    ("inshop", "Eval/list_eval_partition.txt", 4, lambda line: " ".join(line.split()[:2]), "has 2 fields"),
]


@pytest.mark.parametrize(("name", "file", "line", "change", "message"), TEXT_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[4][:24]}" for c in TEXT_CASES])
def test_malformed_text_file_is_reported_at_its_line(copy_of, name, file, line, change, message):
    root = copy_of(name)
    where = _edit_line(_folder(root, name) / file, line, change)
    with pytest.raises(RetrievalLayoutError) as error:
        build_retrieval_dataset(name, root)
    assert message in str(error.value)
    _assert_one_line_naming(error, name, where if "is not listed" not in message else file)


def test_inshop_item_in_train_and_test_is_reported(copy_of):
    root = copy_of("inshop")
    path = root / "Inshop_Clothes" / "Eval" / "list_eval_partition.txt"
    lines = path.read_text().splitlines()
    train_item = next(line.split()[1] for line in lines[2:] if line.split()[2] == "train")
    index = next(i for i, line in enumerate(lines) if i >= 2 and line.split()[2] == "query")
    image, _, status = lines[index].split()
    lines[index] = f"{image} {train_item} {status}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RetrievalLayoutError, match="in both train and query/gallery") as error:
        build_retrieval_dataset("inshop", root)
    _assert_one_line_naming(error, "inshop", path)


def test_empty_index_file_is_reported(copy_of):
    root = copy_of("cub200")
    path = root / "CUB_200_2011" / "images.txt"
    path.write_text("\n")
    with pytest.raises(RetrievalLayoutError, match="file has no '<image_id> <path>' lines") as error:
        build_retrieval_dataset("cub200", root)
    _assert_one_line_naming(error, "cub200", path)


def test_cub_without_test_classes_is_reported(copy_of):
    root = copy_of("cub200")
    path = root / "CUB_200_2011" / "image_class_labels.txt"
    lines = [line.split() for line in path.read_text().splitlines()]
    path.write_text("".join(f"{i} {min(int(c), 100)}\n" for i, c in lines))
    with pytest.raises(RetrievalLayoutError, match=r"no test images \(classes 101..200\)") as error:
        build_retrieval_dataset("cub200", root)
    _assert_one_line_naming(error, "cub200", path)


def _rewrite_mat(path: Path, change) -> None:
    mat = scipy.io.loadmat(path)
    scipy.io.savemat(path, change({k: v for k, v in mat.items() if not k.startswith("__")}))


def _without_class_field(mat: dict) -> dict:
    old = mat["annotations"]
    fields = [name for name in old.dtype.names if name != "class"]
    new = np.zeros(old.shape, dtype=[(name, "O") for name in fields])
    for name in fields:
        new[name] = old[name]
    return {**mat, "annotations": new}


def _class_out_of_range(mat: dict) -> dict:
    mat["annotations"][0, 1]["class"] = np.array([[197]], dtype=np.uint8)
    return mat


@pytest.mark.parametrize(("change", "message"), [
    (lambda mat: {"class_names": mat["class_names"]}, "no 'annotations' variable"),
    (_without_class_field, "'annotations' lacks field(s) class"),
    (_class_out_of_range, "class 197 is out of range 1..196: {path} annotations(2);"),
])
def test_malformed_cars_mat_is_reported(copy_of, change, message):
    root = copy_of("cars196")
    path = root / "cars196" / "cars_annos.mat"
    _rewrite_mat(path, change)
    with pytest.raises(RetrievalLayoutError) as error:
        build_retrieval_dataset("cars196", root)
    assert message.format(path=path) in str(error.value)
    _assert_one_line_naming(error, "cars196", path)


def test_unreadable_cars_mat_is_reported(copy_of):
    root = copy_of("cars196")
    path = root / "cars196" / "cars_annos.mat"
    path.write_bytes(b"this is not a MATLAB file")
    with pytest.raises(RetrievalLayoutError, match="not a readable MATLAB file") as error:
        build_retrieval_dataset("cars196", root)
    _assert_one_line_naming(error, "cars196", path)
