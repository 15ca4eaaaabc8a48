import os
from pathlib import Path

import pytest

from infogan.config import Config
from infogan.data import available

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """Real MNIST; absent files skip locally but fail in CI (CI sets CI=true)."""
    root = Path(os.environ.get("INFOGAN_DATA") or ROOT.parent / "shared" / "data")
    if not available("mnist", root):
        msg = f"MNIST raw files not found under {root}/MNIST/raw (set INFOGAN_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture
def tiny_mnist(mnist_root) -> Config:
    """A few dozen steps on a few hundred real MNIST images."""
    return Config.from_dict({"dataset": "mnist", "data_dir": str(mnist_root), "subset": 320,
                             "batch_size": 32, "epochs": 2, "log_every": 5, "sample_every": 10,
                             "ckpt_every": 10, "download": False})
