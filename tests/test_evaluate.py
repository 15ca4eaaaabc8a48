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
