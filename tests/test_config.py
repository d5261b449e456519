"""DistillConfig: devices this torch cannot use are one clear error (issue 13)."""

import pytest
import torch

from taskdistill_rl.cli import main
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.errors import InvalidInputError


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the error cannot happen")
def test_cuda_on_a_torch_without_cuda_names_the_devices_here(capsys):
    with pytest.raises(InvalidInputError, match=r"device 'cuda'.*devices here: cpu"):
        DistillConfig(device="cuda")
    assert main(["distill", "--device", "cuda:0", "--epochs", "1", "-q", "--out", "run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("taskdistill: error: device 'cuda:0'") and len(err.splitlines()) == 1


@pytest.mark.parametrize("device", ["gpu", "tpu0", ""])
def test_unknown_device_names_the_devices_here(device, capsys):
    with pytest.raises(InvalidInputError, match="devices here: cpu"):
        DistillConfig(device=device)
    assert main(["distill", "--device", device, "--epochs", "1", "-q", "--out", "run"]) == 1
    err = capsys.readouterr().err
    assert "devices here: cpu" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_cpu_is_accepted():
    assert DistillConfig(device="cpu").device == "cpu"
