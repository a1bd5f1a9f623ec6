"""Cell ids: readable, stable, and equal exactly when the resolved configuration is."""

from __future__ import annotations

from dmlrepro.cells import cell_id, landmarks_at_input


def test_id_is_a_readable_slug_plus_hash(tiny_cell):
    cid = cell_id(tiny_cell())
    assert cid.startswith("market1501-pcb-csalr-g2m96-st123-")
    assert len(cid.rsplit("-", 1)[1]) == 8


def test_same_configuration_same_id_and_any_change_a_new_one(tiny_cell):
    assert cell_id(tiny_cell()) == cell_id(tiny_cell())
    assert cell_id(tiny_cell()) != cell_id(tiny_cell(samples=48))
    changed = tiny_cell()
    changed["training"] = {**changed["training"], "epochs": 99}
    assert cell_id(changed) != cell_id(tiny_cell())


def test_irrelevant_defaults_do_not_split_cells(tiny_cell):
    assert cell_id(tiny_cell(attention="none", samples=96)) == cell_id(tiny_cell(attention="none", samples=24))
    assert cell_id(tiny_cell(attention="sa", groups=1)) == cell_id(tiny_cell(attention="sa", groups=2))


def test_landmarks_keep_the_paper_compression_ratio():
    assert landmarks_at_input(96, (384, 128)) == 96
    assert landmarks_at_input(96, (128, 64)) == 16  # 1/6 of the input area
    assert landmarks_at_input(192, (128, 64)) == 32
    assert landmarks_at_input(1, (64, 32)) == 1
