"""Cell ids: readable, stable, and equal exactly when the resolved configuration is."""

from __future__ import annotations

import pytest

from dmlrepro.cells import cell_id, landmarks_at_input
from dmlrepro.errors import UserError


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


def test_group_mode_defaults_to_the_papers_partition(tiny_cell):
    """Both papers partition the channels and apply the module per group (000 Sec. 3.2, 001 after
    Eq. 7); the public code's channel-split heads are the named variant, with a word in the id."""
    for attention, extra in (("csalr", {}), ("csa", {"bases": 8, "groups": 2})):
        default = tiny_cell(attention=attention, **extra)
        assert default["attention_params"]["group_mode"] == "partition"
        heads = tiny_cell(attention=attention, group_mode="split_heads", **extra)
        assert heads["attention_params"]["group_mode"] == "split_heads"
        assert "-heads-" in cell_id(heads) and "heads" not in cell_id(default)
        assert "partition" not in cell_id(default)
    assert "group_mode" not in tiny_cell(attention="sa", group_mode="split_heads")["attention_params"]


def test_ds_branch_is_part_of_an_attention_cell_with_deep_supervision(tiny_cell):
    default, csa_branch = tiny_cell(), tiny_cell(ds_branch="response")
    assert default["ds_branch"] == "input_times_response" and csa_branch["ds_branch"] == "response"
    assert cell_id(csa_branch).rsplit("-", 2)[1] == "dsresp" and "dsresp" not in cell_id(default)
    # Without branches, or without attention, the choice changes nothing and does not split cells.
    assert "ds_branch" not in tiny_cell(attention="none", ds_branch="response")
    assert cell_id(tiny_cell(deep_supervision=False, ds_branch="response")) == cell_id(tiny_cell(deep_supervision=False))


@pytest.mark.parametrize(("key", "value"), [("group_mode", "heads"), ("ds_branch", "gap"), ("attention", "csalr2")])
def test_unknown_choices_are_user_errors_naming_the_key(tiny_cell, key, value):
    with pytest.raises(UserError, match=key):
        tiny_cell(**{key: value})


def test_the_presets_random_erasing_reaches_the_cell_and_its_id(tmp_path, monkeypatch):
    """`random_erasing` is a training option of the paper's preset: it must be in the resolved cell
    (the trainer reads it there) and change the cell's id."""
    import shutil

    import yaml

    import dmlrepro.presets
    from dmlrepro.cells import cell_id, resolve_reid_cell
    from dmlrepro.config import resolve_scale

    scale = resolve_scale({"scale": "tiny", "pretrained": "auto"})
    off = resolve_reid_cell({"attention": "none"}, "market1501", scale, "data/synthetic")
    presets = yaml.safe_load((dmlrepro.presets.PRESET_DIR / "csalr.yaml").read_text())
    erasing = {"p": 0.5, "area": [0.02, 0.2], "ratio": 0.3}
    presets["tiny"]["random_erasing"] = erasing
    shutil.copytree(dmlrepro.presets.PRESET_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "csalr.yaml").write_text(yaml.safe_dump(presets))
    monkeypatch.setattr(dmlrepro.presets, "PRESET_DIR", tmp_path)
    on = resolve_reid_cell({"attention": "none"}, "market1501", scale, "data/synthetic")
    assert off["training"]["random_erasing"] is None
    assert on["training"]["random_erasing"] == erasing
    assert cell_id(on) != cell_id(off)


def test_only_a_pcb_rpp_cell_carries_the_rpp_phases_so_they_never_split_pcb_cells(tmp_path, monkeypatch):
    import shutil

    import yaml

    import dmlrepro.presets
    from dmlrepro.cells import resolve_reid_cell
    from dmlrepro.config import resolve_scale

    scale = resolve_scale({"scale": "tiny", "pretrained": "auto"})
    pcb, rpp = ({"attention": "none", "model": m} for m in ("pcb", "pcb_rpp"))
    before = [resolve_reid_cell(row, "market1501", scale, "data/synthetic") for row in (pcb, rpp)]
    assert "pcb_rpp" not in before[0]["training"] and "pcb_rpp" in before[1]["training"]
    presets = yaml.safe_load((dmlrepro.presets.PRESET_DIR / "csalr.yaml").read_text())
    presets["tiny"]["pcb_rpp"] = {"pcb_epochs": 2, "rpp_classifier_epochs": 0}
    shutil.copytree(dmlrepro.presets.PRESET_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "csalr.yaml").write_text(yaml.safe_dump(presets))
    monkeypatch.setattr(dmlrepro.presets, "PRESET_DIR", tmp_path)
    after = [resolve_reid_cell(row, "market1501", scale, "data/synthetic") for row in (pcb, rpp)]
    assert cell_id(after[0]) == cell_id(before[0]) and cell_id(after[1]) != cell_id(before[1])


def test_csa_states_csalrs_setting_so_their_presets_are_equal_and_shared_cells_one_job(reid_presets):
    """CSA's Implementation Details and CSALR's Sec. 4.2 give the same PCB schedule: equal presets
    at every scale, hence one cell id for a configuration both papers train."""
    from dmlrepro.cells import cell_id, resolve_reid_cell

    assert reid_presets["csa"] == reid_presets["csalr"]
    row = {"attention": "sa", "stages": [1, 2, 3]}
    ids = {cell_id(resolve_reid_cell(row, "market1501", {"name": "smoke"}, "x", paper)) for paper in ("csa", "csalr")}
    assert len(ids) == 1


def test_a_reid_paper_without_presets_is_a_one_line_error():
    from dmlrepro.cells import resolve_reid_cell

    with pytest.raises(UserError, match="config/presets/nopaper.yaml"):
        resolve_reid_cell({"attention": "none"}, "market1501", {"name": "smoke"}, "x", "nopaper")
