"""load_pretrained's device: a device this torch cannot use is refused by name, before anything is loaded."""
import pytest
import torch

import airlib
from airlib import pretrained, runs


@pytest.fixture
def nothing_loads(monkeypatch):
    """No GPU, and any attempt to read a record or an artifact fails the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def refuse(*args, **kwargs):
        raise AssertionError("loaded before the device was checked")

    monkeypatch.setattr(pretrained, "load_record", refuse)
    monkeypatch.setattr(runs, "load_artifact", refuse)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")], ids=str)
def test_a_gpu_that_torch_does_not_see_is_named(nothing_loads, device):
    with pytest.raises(ValueError, match=r"device 'cuda(:0)?' asked for, but torch sees no GPU"):
        airlib.load_pretrained("air-multi-mnist", device=device)


def test_an_unknown_device_is_named(nothing_loads):
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        airlib.load_pretrained("air-multi-mnist", device="gpu")
