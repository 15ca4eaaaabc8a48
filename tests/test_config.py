import pytest

from infogan.config import Config, ConfigError, preset
from infogan.datasets import train_images


def test_mnist_default_is_the_papers_layout_plus_a_continuous_code_and_the_jitter_term():
    cfg = Config.from_dict({"dataset": "mnist"})
    assert (cfg.noise_dim, cfg.cat_codes, cfg.n_cont, cfg.input_dim) == (62, (10,), 3, 75)
    assert (cfg.lr_d, cfg.lr_g, cfg.beta1, cfg.lambda_cat, cfg.lambda_cont) == (2e-4, 1e-3, 0.5, 1.0, 0.1)
    assert cfg.lambda_cat_jitter == 1.0  # chosen by the seed sweep; other presets keep the paper's objective
    assert {preset(d).lambda_cat_jitter for d in ("fashion-mnist", "svhn", "dsprites", "folder:x")} == {0.0}
    assert preset("fashion-mnist").n_cont == 2  # the paper's MNIST layout where nothing was measured
    assert cfg.epochs == 10 and Config().epochs == 10  # the sweep's budget, with or without --dataset
    assert {preset(d).epochs for d in ("fashion-mnist", "svhn", "folder:x")} == {20}


def test_a_run_saved_before_a_field_existed_reads_back_as_it_was_trained():
    old = Config.from_dict({"dataset": "mnist"}).to_dict()
    del old["lambda_cat_jitter"]  # config.json written before the jitter term was added
    assert Config.from_saved(old).lambda_cat_jitter == 0.0
    assert Config.from_saved({**old, "lambda_cat_jitter": 0.5}).lambda_cat_jitter == 0.5
    with pytest.raises(ConfigError, match="lambda_cat_jitter"):
        Config.from_saved({**old, "lambda_cat_jitter": -1})


def test_dataset_presets_apply_when_only_dataset_is_named():
    svhn = Config.from_dict({"dataset": "svhn"})
    assert (svhn.image_size, svhn.channels, svhn.cat_codes) == (32, 3, (10, 10, 10, 10))
    assert Config.from_dict({"dataset": "svhn", "noise_dim": 10}).noise_dim == 10
    assert preset("folder:/tmp/x").image_size == 64


@pytest.mark.parametrize("dataset", ["folder:/tmp/faces", "dsprites:4", "fashion-mnist", "svhn", "mnist"])
def test_one_dataset_name_means_one_preset_for_the_cli_a_file_and_the_form(dataset):
    from infogan.cli import build_parser, config_from_args

    cli = config_from_args(build_parser().parse_args(["train", "--dataset", dataset]))
    assert Config.from_dict({"dataset": dataset}) == cli == preset(dataset)
    if dataset.startswith("folder:"):  # the CelebA layout, not MNIST's
        assert (cli.image_size, cli.channels, cli.noise_dim, cli.cat_codes, cli.n_cont) == (64, 3, 128, (10,) * 10, 0)


def test_importing_the_config_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, infogan.config, infogan.files, infogan.dsprites; print(sorted(m for m in sys.modules " \
           "if m.split('.')[0] in ('torch', 'torchvision')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).parents[1])
    assert out.stdout.strip() == "[]", out.stdout


def test_the_package_has_no_import_circle():
    """Every import of the package's own modules, at module level or inside a function (a
    deferred import is still a dependency): a cycle among them is what made `import
    infogan.config` load torch before."""
    import ast
    from pathlib import Path

    pkg = Path(__file__).parents[1] / "infogan"
    graph = {}
    for f in pkg.glob("*.py"):
        tree = ast.parse(f.read_text())
        graph[f.stem] = {(n.module or "").split(".")[0] or a.name for n in ast.walk(tree)
                         if isinstance(n, ast.ImportFrom) and n.level == 1 for a in n.names}
    graph = {k: {m for m in v if m in graph and m != k} for k, v in graph.items()}
    done, path = set(), []

    def visit(node):
        assert node not in path, " -> ".join(path[path.index(node):] + [node])
        if node in done:
            return
        path.append(node)
        for nxt in graph[node]:
            visit(nxt)
        path.pop()
        done.add(node)

    for node in graph:
        visit(node)
    # config reads only the leaves that hold data (the architecture table, the dataset registry,
    # which reads the drawings of the ground-truth sets), so `import infogan.config` stays free of torch
    assert graph["config"] <= {"archs", "datasets"} and graph["datasets"] <= {"dsprites", "shapes3d"}
    assert graph["archs"] == set() and graph["dsprites"] == set() == graph["shapes3d"] and graph["files"] == set()


@pytest.mark.parametrize("values,field,text", [
    ({"cat_codes": [10, 1]}, "cat_codes", "K >= 2"),
    ({"batch_size": -4}, "batch_size", "between 2"),
    ({"batch_size": "abc"}, "batch_size", "whole number"),
    ({"batch_size": 3.5}, "batch_size", "whole number"),
    ({"dataset": "cifar"}, "dataset", "unknown dataset"),
    ({"lr_g": 0}, "lr_g", "(0, 1]"),
    ({"lr_d": float("nan")}, "lr_d", "finite"),
    ({"image_size": 48, "dataset": "folder:x"}, "image_size", "one of"),
    ({"image_size": 64}, "image_size", "28x28"),
    ({"cat_codes": [], "n_cont": 0}, "n_cont", "at least one latent code"),
    ({"epochs": 0}, "epochs", ">= 1"),
    ({"device": "tpu"}, "device", "must be one of"),
    ({"fixed_sigma": "maybe"}, "fixed_sigma", "true or false"),
    ({"nosuch": 1}, "nosuch", "unknown setting"),
    ({"precision": "fp16"}, "precision", "fp32, bf16"),
    ({"precision": "bf16", "device": "mps"}, "precision", "cpu and cuda devices only"),
    ({"seed": 9_300_000_000_000}, "seed", "between 0 and 4,294,967,295"),  # overflowed the data order's seed
    ({"seed": -1}, "seed", "between 0"),
    ({"device": "cuda:x"}, "device", "or cuda:N"),
])
def test_validation_names_the_field_and_reason(values, field, text):
    with pytest.raises(ConfigError) as err:
        Config.from_dict(values)
    assert field in err.value.errors and text in err.value.errors[field]
    assert "\n" not in str(err.value) and f"{field}: " in str(err.value)


def test_mps_with_precision_auto_is_a_valid_config():
    """auto picks among what the device runs (fp32 alone on mps): it is not a request for bf16."""
    assert Config.from_dict({"device": "mps"}).precision == "auto"
    assert Config.from_dict({"device": "mps", "precision": "fp32"}).device == "mps"
    assert Config.from_dict({"seed": 2**32 - 1}).seed == 2**32 - 1


def test_devices_this_machine_lacks_are_one_line(monkeypatch):
    import torch

    from infogan.precision import resolve_device
    from infogan.runs import RunError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RunError, match="'cuda' requested but CUDA is not available on this machine"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RunError, match=r"'cuda:1' requested but this machine has 1 CUDA device\(s\): cuda:0$"):
        resolve_device("cuda:1")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RunError, match="not a device name"):
        resolve_device("cuda:x")
    assert resolve_device("cpu") == torch.device("cpu")


def test_form_strings_are_coerced():
    cfg = Config.from_dict({"cat_codes": "10, 5", "batch_size": "64", "fixed_sigma": "true", "lr_g": "1e-3"})
    assert cfg.cat_codes == (10, 5) and cfg.batch_size == 64 and cfg.fixed_sigma and cfg.lr_g == 1e-3


def test_json_round_trip():
    cfg = Config.from_dict({"cat_codes": [3, 4], "n_cont": 1, "seed": 7})
    import json

    assert Config.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.replace(seed=8).seed == 8


def test_auto_intervals_give_a_short_run_pictures_early_and_a_long_one_a_bounded_loss():
    """0 = auto: a 25th, a 10th and a 5th of the run. One epoch of MNIST from the form's defaults
    (468 steps) used to save its first samples and checkpoint, and so its first film frame, at its
    end (fixed intervals of 500 and 1,000)."""
    cfg = Config.from_dict({"dataset": "mnist", "epochs": 1})
    assert (cfg.sample_every, cfg.film_every, cfg.ckpt_every) == (0, 0, 0)
    total = cfg.total_steps(train_images("mnist"))
    assert total == 468 and cfg.intervals(total) == (19, 47, 94)
    assert cfg.intervals(20) == (10, 10, 10)  # a tiny run is not all saving
    assert cfg.intervals(322_560) == (2000, 4000, 4000)  # full dSprites' 28 epochs: its recipe's cadence
    assert cfg.replace(sample_every=7, ckpt_every=100).intervals(468) == (7, 47, 100)  # set values win
    assert cfg.replace(max_steps=300).total_steps(60_000) == 300
    with pytest.raises(ConfigError, match="film_every"):
        cfg.replace(film_every=-1)


def test_a_relative_image_folder_is_stored_absolute(tmp_path, monkeypatch):
    """The folder a user names is the one next to them: a resume from elsewhere, a dashboard job
    or a sweep's worker on another node must not read it against its own working folder."""
    monkeypatch.chdir(tmp_path)
    cfg = Config.from_dict({"dataset": "folder:faces/../faces"})
    assert cfg.dataset == f"folder:{tmp_path / 'faces'}"
    monkeypatch.chdir("/")
    assert Config.from_saved(cfg.to_dict()).dataset == cfg.dataset
