import numpy as np
import torch

from infogan.evaluate import image_moments, match_codes


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


def test_slant_and_width_are_matched_to_two_different_codes():
    # c2 moves both measures, c3 only width: a per-measure argmax would give c2 both
    corr = {"c2": {"slant": 0.95, "width": -0.9}, "c3": {"slant": 0.1, "width": 0.85}}
    best = match_codes(corr, ("slant", "width"))
    assert best == {"slant": {"code": "c2", "spearman": 0.95}, "width": {"code": "c3", "spearman": 0.85}}
    assert match_codes({"c2": corr["c2"]}, ("slant", "width")) == {"slant": {"code": "c2", "spearman": 0.95}}
    assert match_codes({}, ("slant", "width")) == {}
