"""The code version: a hash of the package's own source that any edit changes."""

from __future__ import annotations

import shutil

from dmlrepro.training.provenance import PACKAGE_DIR, code_version, source_hash


def test_code_version_is_a_source_hash_fixed_for_the_process():
    # Not compared with a fresh source_hash(PACKAGE_DIR): others may be editing the checkout.
    assert PACKAGE_DIR.name == "dmlrepro" and (PACKAGE_DIR / "training" / "provenance.py").is_file()
    assert len(code_version()) == 16 and int(code_version(), 16) >= 0
    assert code_version() == code_version()


def test_any_source_edit_changes_it_and_nothing_else_does(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    base = source_hash(root)
    (root / "notes.txt").write_text("not code")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.py").write_text("cache")
    assert source_hash(root) == base
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    assert source_hash(moved) == base  # where the checkout lives does not matter
    (root / "sub" / "b.py").write_text("y = 3\n")
    assert source_hash(root) != base
    (root / "sub" / "b.py").write_text("y = 2\n")
    assert source_hash(root) == base
    (root / "sub" / "b.py").rename(root / "b.py")  # same bytes, another module
    assert source_hash(root) != base
    (root / "b.py").rename(root / "sub" / "b.py")
    (root / "c.py").write_text("")
    assert source_hash(root) != base
