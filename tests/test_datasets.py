"""The dataset registry (infogan/datasets.py): every record is complete, and every command lists
the same datasets from it (the pages: see test_every_command_lists_the_same_datasets)."""

import pytest

from infogan.config import BUILTIN_DATASETS, DATASET_HELP, IMAGE_SIZES, Config, preset
from infogan.data import LOADERS
from infogan.datasets import JUDGED, RECORDS, record
from infogan.judge import judge_key

EXAMPLE = {"dsprites": "dsprites:4", "folder": "folder:/data/images"}  # a name of each pattern


@pytest.mark.parametrize("rec", RECORDS, ids=[d.name for d in RECORDS])
def test_every_record_is_complete(rec):
    name = EXAMPLE.get(rec.name, rec.name)
    assert record(name) is rec and rec.usage and rec.help and rec.label
    assert rec.image_size in IMAGE_SIZES and rec.channels in (1, 3)
    cfg = Config.from_dict(preset(name).to_dict())  # the preset is a valid config of that dataset
    assert (cfg.dataset, cfg.image_size, cfg.channels) == (name, rec.image_size, rec.channels)
    assert rec.name in LOADERS  # and its loader
    assert bool(rec.files) == bool(rec.labels) and (not rec.files or rec.folder)  # a test split has its files
    assert (judge_key(name) is not None) == bool(rec.labels or rec.factors)


def test_every_command_lists_the_same_datasets():
    """The pages' lists are checked where those pages are rendered already: the Train form's
    presets in tests/test_dashboard.py, the sweep form's datasets in tests/test_sweeps_page.py."""
    assert list(DATASET_HELP) == [d.usage for d in RECORDS]  # `train --help` and --dataset's help
    assert list(BUILTIN_DATASETS) == [d.name for d in RECORDS if d.name != "folder"]
    assert JUDGED == "mnist, fashion-mnist, svhn, dsprites[:S], shapes3d"  # `judge --help`, NoJudge's reason
