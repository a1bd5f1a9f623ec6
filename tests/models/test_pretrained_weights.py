def test_pretrained_weights_file_errors(tmp_path):
    import pytest
    import torch

    from dmlrepro.models.pretrained_weights import PretrainedWeightsError, state_dict_file

    bad = tmp_path / "bad.pth"
    bad.write_text("not a torch file")
    with pytest.raises(PretrainedWeightsError, match="cannot be read as a state dict .* pass a .pth file holding X"):
        state_dict_file(bad, "X")
    model = tmp_path / "model.pth"
    torch.save([torch.zeros(1)], model)
    with pytest.raises(PretrainedWeightsError, match="holds a list, not a state dict"):
        state_dict_file(model, "X")
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(state_dict_file(good, "X")["w"], torch.ones(2))


def test_torchvision_weights_unreachable_name_the_file_and_the_cache(tmp_path, monkeypatch):
    import pytest

    from dmlrepro.models.pretrained_weights import PretrainedWeightsError, torchvision_state_dict

    class Unreachable:
        url = "https://download.pytorch.org/models/x-123.pth"

        def get_state_dict(self, progress):
            raise OSError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsError, match=r"x weights could not be loaded \(OSError\): put x-123.pth .* into .*hub/checkpoints, or Y"):
        torchvision_state_dict(Unreachable(), "x", "Y")
