"""Reading real images with Q, finding their noise, editing them: infogan/invert.py, the upload
path (data.image_from_bytes), the `edit` command and Explore's Real image and Code map tabs."""

from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from infogan import latent
from infogan.checkpoint import load_model, real_data_encoder
from infogan.config import Config
from infogan.data import DataError, image_from_bytes
from infogan.figures import code_map_figure, code_map_frame
from infogan.invert import edit, invert, read_codes, traversals_from
from infogan.models import generate
from infogan.runs import Run
from tests.conftest import app, cli_here, visit


@pytest.fixture(scope="module")
def drawn(knob_run):
    """100 images that G drew from known latents, and Q with BatchNorm statistics of G's images
    (the right statistics for reading images from that distribution)."""
    m = load_model(Run.open("k", knob_run))
    lat = latent.sample(m.cfg, 100, generator=torch.Generator().manual_seed(5))
    images = (generate(m.G, m.cfg, lat) * 255).round().to(torch.uint8)
    ref = latent.sample(m.cfg, 1000, generator=torch.Generator().manual_seed(6))
    q_net = real_data_encoder(m.D, (generate(m.G, m.cfg, ref) * 255).round().to(torch.uint8))
    return m, lat, images, q_net


def test_inversion_recovers_images_that_g_drew(drawn):
    m, lat, images, q_net = drawn
    reading = read_codes(q_net, images)
    assert (reading.cat()[:, 0] == lat.cat[:, 0]).float().mean() >= 0.95  # measured: 1.00
    assert torch.allclose(reading.probs[0].sum(1), torch.ones(100), atol=1e-5)
    assert (reading.sigma > 0).all()
    # 10 of them, one start of 100 steps each (the defaults: 2 starts)
    found = invert(m, q_net, images[:10], starts=1, steps=100, refine_codes=True)
    # measured on this fixture: RMS error 0.003 mean and worst, continuous codes within 0.02-0.03
    # (a 100-step fixture on 1,000 images: 0.006 mean, 0.06 worst, within 0.07-0.11)
    assert found.error.mean() < 0.03 and found.error.max() < 0.15, found.error
    cont_error = (found.lat.cont - lat.cont[:10]).abs().mean(0)
    assert (cont_error < 0.3).all(), cont_error
    assert torch.equal(found.lat.cat, reading.cat()[:10])  # the categories stay Q's reading
    # rows do not interact: alone, an image is fitted as well (not bit for bit: another batch size
    # sums in another order, and 100 Adam steps carry the difference on)
    again = invert(m, q_net, images[:3], starts=1, steps=100, refine_codes=True)
    assert (again.error - found.error[:3]).abs().max() < 0.01


def test_edits_and_walks_change_only_the_named_code(drawn):
    m, lat, images, q_net = drawn
    one = latent.Latent(lat.z[:1], lat.cat[:1], lat.cont[:1])
    same = edit(m, one)
    assert torch.allclose(same, generate(m.G, m.cfg, one), atol=1e-6)
    other = (int(lat.cat[0, 0]) + 1) % 10
    assert (edit(m, one, {"c1": other}) - same).abs().mean() > 0.01
    walks = traversals_from(m, one, [-2.0, 0.0, 2.0])
    assert list(walks) == m.cfg.code_names
    assert walks["c1"].shape == (10, 1, 28, 28) and walks["c2"].shape == (3, 1, 28, 28)
    assert torch.allclose(walks["c1"][int(lat.cat[0, 0])], walks["c1"][int(lat.cat[0, 0])])
    assert (walks["c2"][0] - walks["c2"][2]).abs().mean() > 0.001


def _png(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buf = BytesIO()
    Image.fromarray(array, mode).save(buf, format=save.pop("format", "png"), **save)
    return buf.getvalue()


def test_uploads_become_the_runs_images_or_get_a_one_line_reason():
    mnist = Config()
    paper = np.full((300, 200, 3), 255, np.uint8)  # a dark stroke on white paper, RGB, not square
    paper[100:200, 90:110] = 0
    img = image_from_bytes(_png(paper), mnist)
    assert img.shape == (1, 28, 28) and img.dtype == torch.uint8
    assert img[0, 0].max() == 0 and img[0, 14, 14] > 200  # made light on dark, as MNIST is
    assert image_from_bytes(_png(paper), mnist, invert=False)[0, 0, 0] == 255
    assert image_from_bytes(_png(paper, format="jpeg", quality=90), mnist)[0, 14, 14] > 150
    folder = Config.from_dict({"dataset": "folder:/x"})  # 64x64 RGB, never inverted by default
    assert image_from_bytes(_png(paper), folder).shape == (3, 64, 64)
    assert image_from_bytes(_png(paper), folder)[0, 0, 0] == 255
    grey16 = np.full((40, 40), 32768, np.uint16)  # 16-bit: scaled to 8 bits, not clipped to white
    assert abs(int(image_from_bytes(_png(grey16), mnist, invert=False)[0, 5, 5]) - 128) <= 1
    clear = np.zeros((40, 40, 4), np.uint8)  # a transparent background shows as white, then inverted
    clear[10:30, 18:22] = (0, 0, 0, 255)
    assert image_from_bytes(_png(clear, "RGBA"), mnist)[0, 0, 0] == 0
    reasons = {
        b"": "empty",
        b"not an image at all": "not a readable PNG or JPEG",
        _png(paper, format="gif"): "GIF, not a PNG or JPEG",
        b"\x89PNG\r\n\x1a\n" + bytes(6 * 2**20): "at most 5 MB",
        _png(np.zeros((7000, 7000), np.uint8)): "at most 40 megapixels",
        _png(paper)[:200]: "not a readable PNG or JPEG",  # truncated
    }
    for raw, reason in reasons.items():
        with pytest.raises(DataError, match=reason) as exc:
            image_from_bytes(raw, mnist)
        assert "\n" not in str(exc.value)


def test_cli_edit_reads_codes_inverts_and_writes_the_edit(capsys, monkeypatch, knob_run, tmp_path):
    photo = tmp_path / "seven.png"
    paper = np.full((120, 120), 255, np.uint8)
    paper[20:30, 30:90] = 0
    paper[30:100, 75:85] = 0
    photo.write_bytes(_png(paper))
    run = ["--runs-dir", str(knob_run), "edit", "k"]
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, *run, "--image", str(photo), "--show-codes",
                              "--set", "c1=3", "--set", "c2=1.5", "--out", "edit.png", "--steps", "20")
    assert code == 0, err
    assert "categorical, K=10" in out and "c4" in out and "RMS pixel error" in out and "wrote edit.png" in out
    edited = Image.open(tmp_path / "edit.png")
    assert edited.size == (112, 112)  # 28 x --scale 4
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, *run, "--image", "test:7", "--out", "recon.png",
                              "--scale", "1", "--starts", "1", "--steps", "20")
    assert code == 0 and "the reconstruction" in out, err
    assert Image.open(tmp_path / "recon.png").size == (28, 28)
    for args, reason in [(["--image", "test:10000", "--show-codes"], "test:N needs 0 <= N < 10000"),
                         (["--image", str(photo), "--set", "c1=10", "--out", "x.png"], "c1 takes a category 0..9"),
                         (["--image", str(photo), "--set", "c2=nan", "--out", "x.png"], "c2 takes a finite number"),
                         (["--image", str(photo), "--set", "c9=1", "--out", "x.png"], "CODE one of c1, c2, c3, c4"),
                         (["--image", str(tmp_path), "--out", "x.png"], "is not a file"),
                         (["--image", str(photo)], "give --out FILE"),
                         (["--image", str(photo), "--out", "x.png", "--starts", "0"], "need 1 <= --starts <= 64")]:
        code, out, err = cli_here(capsys, monkeypatch, tmp_path, *run, *args)
        assert code == 2 and reason in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "x.png").exists()


def test_train_help_names_the_datasets_and_their_presets(capsys):
    from infogan.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "svhn", "dsprites[:S]", "folder:PATH"):
        assert f"\n  {name}\n" in out
    assert "preset: image_size=64, arch=infogan-cr, d_batchnorm=False, spectral_norm=True" in out  # dSprites'


def test_code_map_puts_each_image_at_its_codes():
    cfg = Config().to_dict()
    probs = [np.eye(10)[[3, 3, 7]]]
    mu = np.array([[0.5, -1, 0], [0.1, 0, 0], [-0.5, 1, 2]])
    df = code_map_frame(cfg, np.array([10, 20, 30]), probs, mu, np.array([1, 1, 2]))
    assert df.columns.tolist() == ["index", "label", "c1", "c2", "c3", "c4"]
    fig = code_map_figure(df, "c2", "c1", "label", ["c1"])
    assert [t.name for t in fig.data] == ["label = 1", "label = 2"]
    assert fig.data[0].customdata.tolist() == [10, 20] and fig.data[0].x.tolist() == [0.5, 0.1]
    assert all(abs(y - 3) <= 0.3 for y in fig.data[0].y)  # a categorical axis, jittered within its category


def test_explore_real_image_tab_reads_and_edits(monkeypatch, knob_run):
    at = visit(app(monkeypatch, knob_run, "k", tab="Real image", img="12", fit="quick"), "app_pages/explore.py")
    assert not at.warning, [w.value for w in at.warning]
    assert at.number_input(key="img").value == 12 and at.selectbox(key="fit").value == "quick"
    table = at.dataframe[0].value
    assert table["code"].tolist() == ["c1", "c2", "c3", "c4"]
    knob = at.select_slider(key="real_c1")
    assert f"{knob.value}: " in table["reading"][0]  # the knob starts at Q's most probable category
    before = _images(at)
    knob.set_value((knob.value + 1) % 10).run()
    assert not at.exception
    after = _images(at)
    assert after[:2] == before[:2] and after[2] != before[2]  # the image and reconstruction stay; the edit moves
    at.selectbox(key="pick_label").set_value(4)
    next(b for b in at.button if b.label == "Random image of this label").click().run()
    assert any(c.value.endswith(": label 4") for c in at.caption), [c.value[:40] for c in at.caption]
    assert _images(at)[0] != after[0]  # another image



def _images(at) -> list[bytes]:
    """The Explore page's pictures in order, as what was sent to the browser."""
    return [el.value[0] for el in at.get("image")]  # media URLs, named by a hash of the bytes


def test_dsprites_and_image_folder_runs_are_read_and_inverted(tmp_path):
    """Runs without labels: dSprites (64x64 grey, 5 continuous codes, no categorical code) and an
    RGB image folder (64x64, 10 categorical codes). Their reference images are training images,
    an upload becomes their kind of image, and Q's reading and the inversion work as for MNIST
    (Explore's tab calls exactly these; the page itself is driven on MNIST above)."""
    from infogan.invert import reference_encoder, reference_images
    from infogan.train import train

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(8):
        Image.new("RGB", (40, 48), (i * 30, 90, 200 - i * 20)).save(folder / f"{i}.png")
    tiny = {"max_steps": 2, "log_every": 1, "ckpt_every": 2, "sample_every": 2, "batch_size": 4,
            "precision": "fp32", "data_dir": str(tmp_path / "data")}
    paper = np.full((50, 70, 3), 255, np.uint8)
    for name, dataset, shape, cats, conts in (("ds", "dsprites:8", (1, 64, 64), 0, 5),
                                               ("fo", f"folder:{folder}", (3, 64, 64), 10, 0)):
        model = load_model(train(Config.from_dict({"dataset": dataset, **tiny}), name, tmp_path / "runs"))
        data = reference_images(model.cfg)
        assert data.labels is None and data.images.shape[1:] == shape
        upload = image_from_bytes(_png(paper), model.cfg)
        assert upload.shape == shape and int(upload[0, 0, 0]) == (0 if name == "ds" else 255)  # dSprites: inverted
        q_net = reference_encoder(model, data)
        found = invert(model, q_net, torch.stack([data.images[3], upload]), starts=2, steps=5)
        assert found.recon.shape == (2, *shape) and torch.isfinite(found.error).all()
        kinds = ["categorical, K=10"] * cats + ["continuous"] * conts
        assert [r["kind"] for r in found.reading.table(model.cfg)] == kinds
        assert traversals_from(model, found.latent_of(0), [-1.0, 1.0])[model.cfg.code_names[-1]].shape[1:] == shape


def test_the_inversion_benchmark_reports_time_error_and_reading(knob_run, monkeypatch, capsys):
    """benchmarks/invert_speed.py as the README runs it, on INFOGAN_SMOKE's budget (one image of
    each label, the quick fit) and the fixture run instead of one it would train first."""
    import json
    import runpy

    from tests.conftest import ROOT

    monkeypatch.setenv("INFOGAN_SMOKE", "1")
    monkeypatch.setattr("sys.argv", ["invert_speed.py", "--run", "k", "--runs-dir", str(knob_run)])
    runpy.run_path(str(ROOT / "benchmarks" / "invert_speed.py"), run_name="__main__")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["effort"], line["steps"], line["images"]) == ("quick", 10, 10)
    assert line["label_mapping"] == "these images"
    assert line["seconds_per_image_in_one_batch"] > 0 and 0 < line["rms_error_mean"] < 1
    assert set(line["rms_error_by_label"]) == {str(y) for y in range(10)}
    assert 0 <= line["q_reading_matches_label"] <= 1
