"""KerasTuner sweeps: search spaces, the HyperModels, two-trial searches on every backend with
the objective recorded, resuming, the report, and the scripts in distributed mode."""

import json
import os
import socket
import subprocess
import sys

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kerasgen import metrics
from kerasgen import tuning
from kerasgen.callbacks import SampleQuality
from kerasgen.data import synthetic_faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(image_size=16, latent_dim=8, width=8, seed=0)


class PixelFeatures:
    """A fixed random projection of the pixels: a cheap, deterministic feature space."""

    name = "pixels"
    fingerprint = "fixed"

    def __init__(self, dims=16):
        self.projection = np.random.default_rng(0).normal(size=(16 * 16 * 3, dims))

    def __call__(self, images):
        x = np.asarray(images, "float64").reshape(len(images), -1)
        return (x / (255.0 if np.asarray(images).dtype == np.uint8 else 1.0)) @ self.projection


def faces(n, split="train"):
    return synthetic_faces(n=n, image_size=16, batch_size=32, split=split, seed=0,
                           shuffle=split == "train")


# ---- search spaces ---------------------------------------------------------------------------


def test_parse_space_reads_ranges_choices_and_fixed_values():
    assert tuning.parse_space("1e-3:10") == (0.001, 10.0)
    assert tuning.parse_space("1:5") == (1, 5)
    assert tuning.parse_space("0.1,0.5,1,10") == [0.1, 0.5, 1.0, 10.0]
    assert tuning.parse_space("2e-4") == 2e-4 and tuning.parse_space("5") == 5
    with pytest.raises(ValueError, match="'ten' is not a number"):
        tuning.parse_space("1:ten")


def test_hyperparameter_registers_log_ranges_integer_ranges_choices_and_fixed():
    hp = kt.HyperParameters()
    assert 1e-3 <= tuning.hyperparameter(hp, "kld_weight", (1e-3, 10.0)) <= 10
    assert tuning.hyperparameter(hp, "n_critic", (1, 5)) in range(1, 6)
    assert tuning.hyperparameter(hp, "gp", [1.0, 10.0]) == 1.0
    assert tuning.hyperparameter(hp, "lr", 2e-4) == 2e-4
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {"kld_weight": "Float", "n_critic": "Int", "gp": "Choice", "lr": "Fixed"}
    assert hp._hps["kld_weight"][0].sampling == "log"
    with pytest.raises(ValueError, match="0 < low < high"):
        tuning.hyperparameter(kt.HyperParameters(), "x", (0.0, 1.0))
    with pytest.raises(ValueError, match="unknown objective 'loss_of_nerve'"):
        tuning.objective("loss_of_nerve")
    assert tuning.objective("fid").direction == "min"
    assert tuning.objective("attr_acc").direction == "max"


@pytest.mark.backend
@pytest.mark.parametrize("build,rates,betas", [
    (tuning.DCGANHyperModel, {"generator": 1e-3, "discriminator": 5e-5}, (0.5, 0.999)),
    (tuning.WGANGPHyperModel, {"generator": 1e-3, "critic": 5e-5}, (0.0, 0.9)),
    (tuning.ConditionalGANHyperModel, {"generator": 1e-3, "discriminator": 5e-5}, (0.5, 0.999)),
    (tuning.VAEHyperModel, {"vae": 1e-3}, (0.9, 0.999)),
])
def test_hypermodels_set_the_rates_of_their_optimizers_and_keep_the_betas(build, rates, betas):
    hp = kt.HyperParameters()
    for name, rate in rates.items():
        key = "learning_rate" if name == "vae" else f"{name}_learning_rate"
        hp.Fixed(key, rate)
    if build is tuning.WGANGPHyperModel:
        hp.Fixed("n_critic", 3)
        hp.Fixed("gp_weight", 20.0)
    if build is tuning.VAEHyperModel:
        hp.Fixed("kld_weight", 0.25)
    model = build(**TINY).build(hp)
    for name, rate in rates.items():
        optimizer = model.optimizer[name]
        assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(rate)
        assert (optimizer.beta_1, optimizer.beta_2) == pytest.approx(betas)
    if build is tuning.WGANGPHyperModel:
        assert (model.n_critic, model.gp_weight) == (3, 20.0)
    if build is tuning.VAEHyperModel:
        assert model.kld_weight == 0.25


def test_an_unknown_optimizer_name_is_named():
    hypermodel = tuning.GenerativeHyperModel.__new__(tuning.DCGANHyperModel)
    tuning.GenerativeHyperModel.__init__(hypermodel, {"critic_learning_rate": 1e-4}, TINY)
    with pytest.raises(ValueError, match="DCGAN has no optimizer 'critic'.*generator"):
        hypermodel.build(kt.HyperParameters())


# ---- searches ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_pixels():
    return metrics.real_features(faces(128, "test"), PixelFeatures())


@pytest.mark.backend
def test_two_trial_vae_search_records_the_objective_and_reports(tmp_path, real_pixels):
    hypermodel = tuning.VAEHyperModel(kld_weight=(1e-3, 10.0), learning_rate=1e-3, **TINY)
    tuner = tuning.make_tuner("random", hypermodel, tuning.objective("fid"), str(tmp_path),
                              "vae", max_trials=2, epochs=1, seed=3)
    quality = SampleQuality(real_pixels, PixelFeatures(), ("fid", "kid"), n=64, seed=0)
    tuner.search(faces(64), epochs=1, validation_data=faces(64, "test"), callbacks=[quality],
                 verbose=0)
    rows = tuning.results(tuner)
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    assert rows[0]["kld_weight"] != rows[1]["kld_weight"]  # different hyperparameters
    for row in rows:
        assert 1e-3 <= row["kld_weight"] <= 10 and row["learning_rate"] == 1e-3
        assert np.isfinite(row["score"]) and row["score"] == row["fid"] > 0  # the objective
        assert np.isfinite(row["val_neg_elbo"]) and row["kid"] == row["kid"]

    # The report: table, plot, and the best model at its best epoch.
    out = tmp_path / "report"
    best = tuning.report(tuner, str(out), ["kld_weight"])
    assert best["score"] == min(r["score"] for r in rows)
    written = json.loads((out / "results.json").read_text())
    assert [r["kld_weight"] for r in written] == [r["kld_weight"] for r in rows]
    assert (out / "results.csv").read_text().splitlines()[0].startswith("trial,status,")
    from PIL import Image

    assert np.asarray(Image.open(out / "best_grid.png")).shape == (8 * 18 + 2, 8 * 18 + 2, 3)
    plot = np.asarray(Image.open(out / "objective.png"))
    assert plot.shape[1] > 400 and plot.std() > 10  # a drawn figure, not a blank canvas
    model = keras.models.load_model(out / "best.keras")
    assert model.kld_weight == pytest.approx(best["kld_weight"])
    # Its FID with the callback's latents is the best trial's score.
    quality.set_model(model)
    assert quality.measure()["fid"] == pytest.approx(best["score"], rel=1e-4)


@pytest.mark.backend
def test_gan_search_with_bayesian_optimization_resumes(tmp_path, real_pixels):
    hypermodel = tuning.WGANGPHyperModel(n_critic=(1, 2), gp_weight=10.0, **TINY)
    quality = SampleQuality(real_pixels, PixelFeatures(), ("fid", "pr"), n=64, seed=0)

    def search(max_trials):
        tuner = tuning.make_tuner("bayesian", hypermodel, tuning.objective("fid"),
                                  str(tmp_path), "wgan", max_trials=max_trials, epochs=1)
        tuner.search(faces(32), epochs=1, callbacks=[quality], verbose=0)
        return tuner, tuning.results(tuner)

    _, first = search(1)
    tuner, rows = search(2)  # resumes: the first trial is kept, one more runs
    assert len(rows) == 2 and rows[0] == first[0]
    assert all(r["status"] == "COMPLETED" and np.isfinite(r["score"]) for r in rows)
    hps = [(r["generator_learning_rate"], r["critic_learning_rate"], r["n_critic"]) for r in rows]
    assert hps[0] != hps[1]
    assert all(0 <= r["recall"] <= 1 for r in rows)


def test_hyperband_schedules_epochs_and_records_the_objective(tmp_path, real_pixels):
    hypermodel = tuning.DCGANHyperModel(**TINY)
    tuner = tuning.make_tuner("hyperband", hypermodel, tuning.objective("kid"), str(tmp_path),
                              "dcgan", epochs=3)
    quality = SampleQuality(real_pixels, PixelFeatures(), ("kid",), n=64, seed=0)
    tuner.search(faces(32), epochs=3, callbacks=[quality], verbose=0)
    rows = tuning.results(tuner)
    assert len(rows) >= 2 and all(r["score"] is not None for r in rows)
    assert max(r["tuner/epochs"] for r in rows) == 3  # hyperband's own epoch schedule


# ---- the scripts, and KerasTuner's distributed mode -------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vae_script_with_a_chief_and_one_worker(tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, os.path.join(ROOT, "tuning", "tune_vae_kld.py"), "--trials", "2",
               "--epochs", "1", "--n-images", "128", "--image-size", "16", "--quality-images",
               "128", "--batch-size", "32", "--tuner", "random", "--out", str(out),
               "--latent-dim", "8"]
    # The chief trains the offline feature extractor; the worker waits for it and scores with
    # it, so that every trial is measured in the same feature space.
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    port = str(_free_port())
    distributed = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    chief = subprocess.Popen(command, env={**env, **distributed, "KERASTUNER_TUNER_ID": "chief"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.run(command, env={**env, **distributed, "KERASTUNER_TUNER_ID": "tuner0"},
                            capture_output=True, text=True, timeout=600)
    chief_out, _ = chief.communicate(timeout=600)
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert chief.returncode == 0, chief_out[-3000:]
    assert "worker done" in worker.stdout and "best trial" in chief_out
    assert "training the offline feature extractor" in chief_out
    assert f"feature extractor {out / 'classifier.keras'}" in worker.stdout
    assert "CPU only" in chief_out  # the device is stated at start
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert rows[0]["kld_weight"] != rows[1]["kld_weight"]
    assert all(np.isfinite(r["fid"]) and np.isfinite(r["val_neg_elbo"]) for r in rows)
    for name in ("objective.png", "metrics.png", "best.keras", "best_grid.png", "results.csv"):
        assert (out / name).exists(), name


def _script(name):
    sys.path.insert(0, os.path.join(ROOT, "tuning"))
    try:
        import importlib

        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_budget_follows_the_device(monkeypatch, capsys):
    common = _script("common")
    args = common.parser("test", out="x").parse_args([])
    assert common.setup(args) == "cpu" and (args.image_size, args.epochs) == (32, 2)
    assert "CPU only (no GPU visible)" in capsys.readouterr().out
    monkeypatch.setattr(common.backend, "accelerators", lambda: ["gpu:0 (NVIDIA H100)"])
    args = common.parser("test", out="x").parse_args(["--epochs", "4"])
    assert common.setup(args) == "gpu"
    assert (args.image_size, args.epochs, args.trials) == (64, 4, 12)  # given values win
    assert "gpu:0 (NVIDIA H100)" in capsys.readouterr().out


def test_gan_script_sweeps_a_conditional_gan(tmp_path, monkeypatch):
    out = tmp_path / "cgan"
    monkeypatch.setattr(sys, "argv", [
        "tune_gan_lr.py", "--model", "cgan", "--attributes", "Male,Eyeglasses", "--trials", "2",
        "--epochs", "1", "--n-images", "64", "--image-size", "16", "--batch-size", "32",
        "--quality-images", "64", "--tuner", "random", "--objective", "kid", "--out", str(out)])
    _script("tune_gan_lr").main()
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 and rows[0]["objective"] == "kid"
    assert rows[0]["generator_learning_rate"] != rows[1]["generator_learning_rate"]
    assert all(r["score"] == r["kid"] for r in rows)
    model = keras.models.load_model(out / "best.keras")
    assert list(model.attributes) == ["Male", "Eyeglasses"]
