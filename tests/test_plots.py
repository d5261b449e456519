"""Pictures the CLI draws stay readable (issue 13)."""

from PIL import Image

from taskdistill_rl import DistilledDataset
from taskdistill_rl.plots import MAX_PANELS, plot_dataset


def test_show_of_a_large_k_file_is_a_bounded_figure(tmp_path):
    """MuJoCo's k=64 used to give one row per instance: a figure ~10,000 pixels tall."""
    ds = DistilledDataset(
        k=64, obs_shape=(11,), out_features=3, continuous=True, meta={"env_id": "Hopper-v5"}
    )
    width, height = Image.open(plot_dataset(ds, tmp_path / "big.png")).size
    assert height <= 1000 and width <= 1400
    small = DistilledDataset(k=MAX_PANELS, obs_shape=(4,), out_features=2, meta={"env_id": "NDCartPole-v0"})
    assert Image.open(plot_dataset(small, tmp_path / "small.png")).size[1] > height  # one row per instance
