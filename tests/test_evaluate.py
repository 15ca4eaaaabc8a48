import numpy as np
import pytest
import torch

from infogan.checkpoint import Model
from infogan.config import Config
from infogan.data import ImageData
from infogan.evaluate import categorical_accuracy, continuous_code_effects, image_moments, match_codes
from infogan.models import QOut


def _canvas():
    return torch.zeros(1, 1, 28, 28)


def test_moments_measure_slant_and_width():
    upright, leaning, wide = _canvas(), _canvas(), _canvas()
    for r in range(4, 24):
        upright[0, 0, r, 13:15] = 1
        leaning[0, 0, r, 22 - (r - 4) // 2: 24 - (r - 4) // 2] = 1  # top row further right: leans right
        wide[0, 0, r, 8:20] = 1
    m = image_moments(torch.cat([upright, leaning, wide]))
    assert abs(m["slant"][0]) < 1e-9 and m["slant"][1] > 0.4
    assert m["width"][2] > 3 * m["width"][0]
    assert np.isclose(m["width"][0], 0.5)  # two columns, 0.5 px either side of the centre


def test_thickness_is_ink_over_edge_length_whatever_the_width_or_slant():
    thin, thick, thick_leaning = _canvas(), _canvas(), _canvas()
    for r in range(4, 24):
        thin[0, 0, r, 12:14] = 1
        thick[0, 0, r, 11:15] = 1
        thick_leaning[0, 0, r, 21 - (r - 4) // 2: 25 - (r - 4) // 2] = 1
    wide_ring = _canvas()  # a wide "0" drawn with 2-px strokes: wider than `thin`, not thicker
    wide_ring[0, 0, 4:24, 6:22] = 1
    wide_ring[0, 0, 6:22, 8:20] = 0
    m = image_moments(torch.cat([thin, thick, thick_leaning, wide_ring]))
    # ink 40 / 80, edges about 2 * (20 + t): the corners count sqrt(2), not 2
    assert np.allclose(m["thickness"][:2], [2 * 40 / 44, 2 * 80 / 48], rtol=0.03)
    assert abs(m["thickness"][2] / m["thickness"][1] - 1) < 0.25
    assert abs(m["thickness"][3] / m["thickness"][0] - 1) < 0.25 and m["width"][3] > 3 * m["width"][0]


def test_slant_and_width_are_matched_to_two_different_codes():
    # c2 moves both measures, c3 only width: a per-measure argmax would give c2 both
    corr = {"c2": {"slant": 0.95, "width": -0.9}, "c3": {"slant": 0.1, "width": 0.85}}
    best = match_codes(corr, ("slant", "width"))
    assert best == {"slant": {"code": "c2", "spearman": 0.95}, "width": {"code": "c3", "spearman": 0.85}}
    assert match_codes({"c2": corr["c2"]}, ("slant", "width")) == {"slant": {"code": "c2", "spearman": 0.95}}
    assert match_codes({}, ("slant", "width")) == {}


class _DrawnBars(torch.nn.Module):
    """A stand-in generator with known effects: c2 slants a bar strongly, c4 slightly, c3 widens it."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # for the device lookup

    def forward(self, x):
        c2, c3, c4 = x[:, -3, None, None], x[:, -2, None, None], x[:, -1, None, None]
        ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        centre = 13.5 - (0.3 * c2 + 0.01 * c4) * (ys - 13.5)  # rows above the middle shift right
        img = (2 + 1.5 * (c3 + 1) - (xs - centre).abs() + 0.5).clamp(0, 1) * (ys - 13.5).abs().le(10)
        return (2 * img - 1)[:, None]


def test_code_effects_tell_a_strong_code_from_a_slight_one():
    cfg = Config.from_dict({"noise_dim": 4, "n_cont": 3})
    out = continuous_code_effects(Model(cfg, 0, _DrawnBars(), None), n_seeds=4)
    corr, effect = out["codes"], out["effect"]
    assert corr["c2"]["slant"] > 0.99 and corr["c4"]["slant"] > 0.99  # both move slant steadily...
    assert effect["c2"]["slant"] > 20 * effect["c4"]["slant"] > 0  # ...but by 30x different amounts
    assert corr["c3"]["width"] > 0.99 and effect["c3"]["width"] > 1
    assert corr["c3"]["slant"] == 0 and effect["c3"]["slant"] == pytest.approx(0, abs=1e-6)
    assert out["best"] == {"slant": {"code": "c2", "spearman": corr["c2"]["slant"]},
                           "width": {"code": "c3", "spearman": corr["c3"]["width"]}}


class _LabelReader(torch.nn.Module):
    """A stand-in D whose Q reads the label written into each image's first pixel and answers
    code value perm[label], or the next value where the image's second pixel is lit and it was
    told to err there: a known confusion matrix, whatever batches the images come in."""

    def __init__(self, perm, err=False):
        super().__init__()
        self.perm, self.err = torch.tensor(perm), err
        self.unused = torch.nn.Parameter(torch.zeros(1))  # for the device lookup

    def forward(self, x):
        label = torch.round((x[:, 0, 0, 0] + 1) * 127.5 / 20).long()
        code = self.perm[label]
        code = (code + (self.err * (x[:, 0, 0, 1] > 0)).long()) % 10
        logits = torch.nn.functional.one_hot(code, 10).float() * 5
        return torch.zeros(len(x)), QOut([logits], torch.zeros(len(x), 0), torch.zeros(len(x), 0))


def test_categorical_accuracy_knows_the_answer():
    labels = torch.arange(200) % 10
    images = (labels * 20).to(torch.uint8)[:, None, None, None].expand(200, 1, 28, 28).contiguous()
    images[:, 0, 0, 1] = 0
    images[::4, 0, 0, 1] = 255  # marks one image in four
    data = ImageData(images, labels)
    cfg = Config.from_dict({"noise_dim": 4, "n_cont": 0})
    perm = [3, 7, 0, 9, 1, 5, 2, 8, 6, 4]  # code values name the digits in another order
    exact = categorical_accuracy(Model(cfg, 0, None, _LabelReader(perm)), data)
    assert exact["accuracy"] == 1.0 and exact["codes"]["c1"]["label_to_code"] == perm
    off = categorical_accuracy(Model(cfg, 0, None, _LabelReader(perm, err=True)), data)
    assert off["accuracy"] == pytest.approx(0.75)  # one image in four moved to a wrong code value
    conf = np.asarray(off["codes"]["c1"]["confusion"])
    assert conf.sum() == 200 and conf[perm, range(10)].sum() == 150
