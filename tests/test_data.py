from pathlib import Path

import pytest
import torch
from PIL import Image

from infogan.config import Config
from infogan.data import DataError, load
from infogan.jobs import demo_config
from tests.conftest import cli_here


def _images(folder: Path, n: int, size=(40, 30)) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", size, (i * 40 % 256, 100, 200)).save(folder / f"{i}.png")


def test_flat_image_folder_is_resized_and_cropped(tmp_path):
    _images(tmp_path / "flat", 5)
    (tmp_path / "flat" / "notes.txt").write_text("not an image")
    data = load(Config.from_dict({"dataset": f"folder:{tmp_path / 'flat'}", "image_size": 32, "channels": 3}))
    assert data.images.shape == (5, 3, 32, 32) and data.images.dtype == torch.uint8 and data.labels is None


def test_class_subfolders_keep_labels_and_grayscale(tmp_path):
    _images(tmp_path / "cls" / "cats", 3)
    _images(tmp_path / "cls" / "dogs", 2)
    data = load(Config.from_dict({"dataset": f"folder:{tmp_path / 'cls'}", "image_size": 28, "channels": 1}))
    assert data.images.shape == (5, 1, 28, 28) and data.labels.tolist() == [0, 0, 0, 1, 1]


def test_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(Config.from_dict({"dataset": f"folder:{tmp_path / 'nope'}"}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load(Config.from_dict({"dataset": f"folder:{tmp_path / 'empty'}"}))


@pytest.mark.parametrize("dataset,files", [("fashion-mnist", "FashionMNIST/raw"), ("svhn", "SVHN")])
def test_missing_torchvision_datasets_name_folder_and_files(capsys, monkeypatch, tmp_path, dataset, files):
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--dataset", dataset, "--data-dir", str(tmp_path),
                            "--no-download")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{dataset}: the files are missing" in err and str(tmp_path / files) in err


def test_corrupt_files_are_named_as_corrupt_not_missing(tmp_path, mnist_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f).write_bytes(b"not an idx file" * 10)
    with pytest.raises(DataError, match=r"mnist: the files in .*MNIST/raw are unreadable or corrupt \(") as err:
        load(Config.from_dict({"dataset": "mnist", "data_dir": str(tmp_path), "download": False}))
    assert "missing" not in str(err.value) and "\n" not in str(err.value)


def test_the_throughput_benchmark_without_data_says_where_it_looked(monkeypatch, tmp_path):
    import runpy
    import sys

    from tests.conftest import ROOT

    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["throughput.py"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / "benchmarks" / "throughput.py"), run_name="__main__")
    message = str(exit_.value.code)
    assert message.startswith("throughput.py: mnist: the download failed") and "\n" not in message  # not a traceback
    assert str(tmp_path / "data" / "MNIST" / "raw") in message and "INFOGAN_DATA" in message


def test_demo_uses_mnist_when_present_else_the_built_in_data(tmp_path, mnist_root):
    assert demo_config(str(mnist_root)).dataset == "mnist"
    assert demo_config(str(tmp_path)).dataset == "dsprites"
    colour = demo_config(str(tmp_path), colour=True)  # the whole grid, so its factors are scored live
    assert (colour.dataset, colour.subset, colour.disent_every, colour.channels) == ("shapes3d", 0, 250, 3)


def test_mnist_read_here_equals_torchvision_and_so_do_grids_and_pictures(mnist_root):
    """data.py reads MNIST's idx files and draws grids itself (importing torchvision costs every
    process 1.2 s); both must give what torchvision gives, byte for byte (integer data)."""
    from io import BytesIO

    import numpy as np
    from torchvision import datasets
    from torchvision.transforms.functional import to_pil_image
    from torchvision.utils import make_grid as tv_grid
    from torchvision.utils import save_image

    from infogan.data import make_grid, pil_image, png_bytes, read_idx

    test = load(Config.from_dict({"dataset": "mnist", "data_dir": str(mnist_root)}), train=False)
    ref = datasets.MNIST(str(mnist_root), train=False)
    assert torch.equal(test.images[:, 0], ref.data) and torch.equal(test.labels, ref.targets)
    x = torch.rand(7, 1, 5, 6, generator=torch.Generator().manual_seed(0))
    for images, kw in ((x, {"nrow": 3, "padding": 2, "pad_value": 0.5}), (x.expand(-1, 3, -1, -1), {"nrow": 8}),
                       (x[0], {})):
        assert torch.equal(make_grid(images, **kw), tv_grid(images, **kw))
    for img in (x[0], x[:3, 0], (x[0] * 255).to(torch.uint8)):
        assert np.array_equal(np.asarray(pil_image(img)), np.asarray(to_pil_image(img)))
    buf = BytesIO()
    save_image(x, buf, format="png", nrow=4, padding=2)
    assert np.array_equal(np.asarray(Image.open(BytesIO(png_bytes(x, 4)))), np.asarray(Image.open(buf)))
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(Path(__file__))  # a text file
