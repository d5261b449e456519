"""`taskdistill show` of frame-stack (Atari) datasets: one row per instance, frames oldest first."""

import pytest
import torch
from PIL import Image

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.plots import MAX_PANELS, image_dataset_figure, plot_dataset


def _atari(k: int, **meta) -> DistilledDataset:
    return DistilledDataset(
        k=k,
        obs_shape=(4, 84, 84),
        out_features=6,
        meta={"env_id": "ALE/Pong-v5", **meta},
        generator=torch.Generator().manual_seed(0),
    )


def test_image_dataset_writes_a_png_with_frames_and_label_per_instance(tmp_path):
    ds = _atari(4)
    out = plot_dataset(ds, tmp_path / "pong.png")
    with Image.open(out) as img:
        img.verify()  # a complete, valid PNG
    fig = image_dataset_figure(ds)
    assert len(fig.axes) == 4 * (4 + 1)  # 4 rows x (4 frames + label)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["t-3", "t-2", "t-1", "t"]
    assert "all 4 instances" in fig._suptitle.get_text()


def test_image_dataset_label_column_names_actions_and_marks_argmax():
    names = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    ds = _atari(2, action_names=names)
    with torch.no_grad():
        ds.label.copy_(torch.tensor([[0.0, 0, 3, 0, 0, 0], [0, 0, 0, 0, 0, 2]]))
    fig = image_dataset_figure(ds)
    bars = fig.axes[4]  # label column of the first row
    assert [t.get_text() for t in bars.get_yticklabels()] == names
    p = torch.softmax(ds.label[0].detach(), -1)[2].item()
    assert bars.get_title(loc="left") == f"argmax: RIGHT (p={p:.2f})"
    assert fig.axes[9].get_title(loc="left").startswith("argmax: LEFTFIRE")


def test_image_dataset_without_action_names_labels_actions_by_index():
    bars = image_dataset_figure(_atari(1, action_names="not a list")).axes[4]
    assert [t.get_text() for t in bars.get_yticklabels()] == [str(i) for i in range(6)]


def test_image_dataset_with_k_20_draws_the_first_12_rows_and_says_so(tmp_path):
    ds = _atari(20)
    fig = image_dataset_figure(ds)
    assert MAX_PANELS == 12
    assert len(fig.axes) == MAX_PANELS * 5
    assert "first 12 of 20 instances shown" in fig._suptitle.get_text()
    with Image.open(plot_dataset(ds, tmp_path / "k20.png")) as img:
        assert img.size[1] <= 2000  # bounded, not one row per instance


def test_image_dataset_colour_range_is_each_instances_min_max():
    """Imported published files hold values outside [0, 1]; the scale must follow the data."""
    ds = _atari(3)
    with torch.no_grad():
        ds.observation.mul_(torch.tensor([1.0, 0.1, 3.0]).view(3, 1, 1, 1))
    fig = image_dataset_figure(ds)
    assert "each instance's own min (black) to max (white)" in fig._suptitle.get_text()
    for i in range(3):
        lo, hi = ds.observation[i].min().item(), ds.observation[i].max().item()
        row = fig.axes[5 * i : 5 * i + 4]
        assert all(ax.images[0].get_clim() == pytest.approx((lo, hi)) for ax in row)
        assert row[0].get_ylabel() == f"instance {i + 1}\n{lo:.3g} … {hi:.3g}"


def test_two_dimensional_observations_are_refused(tmp_path):
    ds = DistilledDataset(k=2, obs_shape=(8, 8), out_features=3)
    with pytest.raises(InvalidInputError, match=r"shape \(8, 8\).*frame stacks"):
        plot_dataset(ds, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_feature_vector_datasets_still_draw(tmp_path):
    ds = DistilledDataset(k=2, obs_shape=(4,), out_features=2, meta={"env_id": "NDCartPole-v0"})
    with Image.open(plot_dataset(ds, tmp_path / "cp.png")) as img:
        assert img.size[1] > 100
