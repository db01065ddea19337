"""KerasTuner sweeps: search spaces, the HyperModels, two-trial searches on every backend with
the objective recorded, resuming, the report, the scripts in distributed mode, interrupted
searches resuming with every trial run once (every tuner), and the scripts' Ctrl-C and bad
options."""

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
    (tuning.SNGANHyperModel, {"generator": 1e-3, "discriminator": 5e-5}, (0.0, 0.9)),
    (tuning.DiffusionHyperModel, {"unet": 1e-3}, (0.9, 0.999)),
])
def test_hypermodels_set_the_rates_of_their_optimizers_and_keep_the_betas(build, rates, betas):
    hp = kt.HyperParameters()
    for name, rate in rates.items():
        key = "learning_rate" if name in ("vae", "unet") else f"{name}_learning_rate"
        hp.Fixed(key, rate)
    if build is tuning.WGANGPHyperModel:
        hp.Fixed("n_critic", 3)
        hp.Fixed("gp_weight", 20.0)
    if build is tuning.VAEHyperModel:
        hp.Fixed("kld_weight", 0.25)
    if build is tuning.SNGANHyperModel:
        hp.Fixed("n_dis", 2)
    if build is tuning.DiffusionHyperModel:
        hp.Fixed("schedule", "linear")
    small = {k: v for k, v in TINY.items() if build is not tuning.DiffusionHyperModel
             or k != "latent_dim"}
    model = build(**small).build(hp)
    for name, rate in rates.items():
        optimizer = model.optimizer[name]
        assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(rate)
        assert (optimizer.beta_1, optimizer.beta_2) == pytest.approx(betas)
    if build is tuning.WGANGPHyperModel:
        assert (model.n_critic, model.gp_weight) == (3, 20.0)
    if build is tuning.VAEHyperModel:
        assert model.kld_weight == 0.25
    if build is tuning.SNGANHyperModel:
        assert model.n_dis == 2
    if build is tuning.DiffusionHyperModel:
        assert model.schedule == "linear"
        assert model.alpha_bar[0] == pytest.approx(1 - 1e-4)


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


# ---- interrupted searches resume: every trial once -------------------------------------------


KLD_WEIGHTS = [0.1, 1.0, 10.0]


def _space(hp):
    """A hypermodel that only declares its space: these searches score trials without training."""
    hp.Choice("kld_weight", KLD_WEIGHTS)


def _larger_space(hp):
    """Hyperband's brackets draw more configurations than three."""
    hp.Choice("kld_weight", KLD_WEIGHTS)
    hp.Int("width", 8, 64)


def _scripted_tuner(kind, directory, interrupt_at=None):
    """`make_tuner`'s tuner whose trials score at once (fid = the KLD weight), recording the
    ids they ran in `tuner.ran`; KeyboardInterrupt, as Ctrl-C raises it, in the trial that
    starts after `interrupt_at` trials ran in this session, leaving the search's files as a
    killed process leaves them."""
    space = _larger_space if kind == "hyperband" else _space
    tuner = tuning.make_tuner(kind, space, tuning.objective("fid"), str(directory), "sweep",
                              max_trials=3, epochs=3, seed=1)
    tuner.ran = []

    def run_trial(trial, *args, **kwargs):
        if len(tuner.ran) == interrupt_at:
            raise KeyboardInterrupt
        tuner.ran.append(trial.trial_id)
        return {"fid": trial.hyperparameters.get("kld_weight")}

    tuner.run_trial = run_trial
    return tuner


def _interrupt(tuner):
    """Runs the search to its interruption; returns the id of the trial it interrupted."""
    with pytest.raises(KeyboardInterrupt):
        tuner.search(verbose=0)
    (trial_id,) = [i for i, t in tuner.oracle.trials.items() if t.status == "RUNNING"]
    return trial_id


@pytest.mark.parametrize("kind", sorted(tuning.TUNERS))
def test_a_search_interrupted_in_a_trial_resumes_it_and_runs_each_trial_once(tmp_path, kind):
    first = _scripted_tuner(kind, tmp_path, interrupt_at=1)
    interrupted = _interrupt(first)  # in the second trial
    assert first.oracle.start_order == [*first.ran, interrupted]

    tuner = _scripted_tuner(kind, tmp_path)  # the same command again
    done, planned, rerun = tuning.progress(tuner)
    assert (done, rerun) == (1, [interrupted])
    tuner.search(verbose=0)
    assert tuner.ran[0] == interrupted  # the interrupted trial first, under its own id
    rows = tuning.results(tuner)
    assert [r["trial"] for r in rows] == sorted(first.ran + tuner.ran)  # each once
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert len(rows) == planned and tuning.progress(tuner)[:2] == (planned, planned)
    if kind == "hyperband":
        assert planned == 6  # two brackets for 3 epochs: 3 + 1 trials, and 2
    else:
        assert planned == 3
        assert sorted(r["kld_weight"] for r in rows) == KLD_WEIGHTS  # each value once

    again = _scripted_tuner(kind, tmp_path)  # a finished search: nothing runs
    again.search(verbose=0)
    assert again.ran == [] and len(tuning.results(again)) == planned


@pytest.mark.parametrize("kind", sorted(tuning.TUNERS))
def test_a_search_interrupted_twice_goes_on_where_it_stopped(tmp_path, kind):
    # KerasTuner does not save GridSearchOracle's walk over the grid: reloaded, a grid search
    # raised KeyError for the trial it retried, or ended at once, its last points never run.
    first = _scripted_tuner(kind, tmp_path, interrupt_at=1)
    _interrupt(first)
    second = _scripted_tuner(kind, tmp_path, interrupt_at=1)
    interrupted = _interrupt(second)
    tuner = _scripted_tuner(kind, tmp_path)
    tuner.search(verbose=0)
    assert tuner.ran[0] == interrupted
    rows = tuning.results(tuner)
    assert [r["trial"] for r in rows] == sorted(first.ran + second.ran + tuner.ran)
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert len(rows) == tuning.progress(tuner)[1]
    if kind != "hyperband":
        assert sorted(r["kld_weight"] for r in rows) == KLD_WEIGHTS


def test_a_grid_search_left_by_the_keyerror_of_kerastuners_reload_is_finished(tmp_path,
                                                                             monkeypatch):
    # The user's report: interrupted in trial 2, the rerun retried it and failed with
    # "KeyError: '1'"; the next rerun ended at once, the third grid point never run.
    _interrupt(_scripted_tuner("grid", tmp_path, interrupt_at=1))
    with monkeypatch.context() as patch:
        patch.setattr(tuning, "resume", lambda tuner: [])  # KerasTuner's reload alone
        with pytest.raises(KeyError, match="'1'"):
            _scripted_tuner("grid", tmp_path).search(verbose=0)
        stopped = _scripted_tuner("grid", tmp_path)
        stopped.search(verbose=0)
        assert stopped.ran == [] and len(tuning.results(stopped)) == 2
    tuner = _scripted_tuner("grid", tmp_path)
    tuner.search(verbose=0)
    assert tuner.ran == ["2"]
    assert [r["kld_weight"] for r in tuning.results(tuner)] == KLD_WEIGHTS


def _kill_in_save(tuner, when):
    """Raises KeyboardInterrupt in the oracle's save once `when(oracle)`: a kill between
    KerasTuner's write of a trial's file and of the oracle's."""
    oracle, save = tuner.oracle, tuner.oracle.save

    def killed_save():
        if when(oracle):
            raise KeyboardInterrupt
        save()

    oracle.save = killed_save


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_a_kill_between_kerastuners_writes_neither_loses_nor_repeats_a_trial(tmp_path, kind):
    # Killed when trial 1 was saved as created but the oracle's state not yet written: trial 1
    # never began; it is created afresh, not left RUNNING in the results.
    first = _scripted_tuner(kind, tmp_path / "created")
    _kill_in_save(first, lambda oracle: len(oracle.start_order) == 2)
    with pytest.raises(KeyboardInterrupt):
        first.search(verbose=0)
    tuner = _scripted_tuner(kind, tmp_path / "created")
    assert sorted(tuner.oracle.trials) == ["0"] and tuning.progress(tuner)[2] == []
    tuner.search(verbose=0)
    assert tuner.ran == ["1", "2"]
    rows = tuning.results(tuner)
    assert sorted(r["kld_weight"] for r in rows) == KLD_WEIGHTS
    assert all(r["status"] == "COMPLETED" for r in rows)

    # Killed when trial 1 was saved as finished but the oracle's state not yet written: it is
    # finished, and does not run again.
    first = _scripted_tuner(kind, tmp_path / "finished")
    _kill_in_save(first, lambda oracle: oracle.end_order == ["0", "1"])
    with pytest.raises(KeyboardInterrupt):
        first.search(verbose=0)
    tuner = _scripted_tuner(kind, tmp_path / "finished")
    assert tuning.progress(tuner) == (2, 3, [])
    tuner.search(verbose=0)
    assert tuner.ran == ["2"]
    rows = tuning.results(tuner)
    assert sorted(r["kld_weight"] for r in rows) == KLD_WEIGHTS
    assert all(r["status"] == "COMPLETED" for r in rows)


@pytest.mark.parametrize("write", [3, 4])
def test_ctrl_c_in_a_write_of_the_search_state_keeps_the_previous_file(tmp_path, monkeypatch,
                                                                      write):
    # KerasTuner writes its JSON in place: cut short by Ctrl-C, the search could not reload.
    # Its oracle's state is written when trial 0 is created and ended, then with the tuner's
    # file (3: without that file KerasTuner would not reload the search), then when trial 1 is
    # created (4: trial 1 never began).
    import kerasgen.files

    replace, saves = os.replace, []

    def interrupted_replace(source, destination):
        if str(destination).endswith("oracle.json"):
            saves.append(destination)
            if len(saves) == write:
                raise KeyboardInterrupt
        replace(source, destination)

    first = _scripted_tuner("grid", tmp_path)
    monkeypatch.setattr(kerasgen.files.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        first.search(verbose=0)
    monkeypatch.undo()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    state = json.loads((tmp_path / "sweep" / "oracle.json").read_text())
    assert state["end_order"] == ["0"]  # the state written after trial 0, whole
    tuner = _scripted_tuner("grid", tmp_path)
    tuner.search(verbose=0)
    assert tuner.ran == ["1", "2"]
    assert [r["kld_weight"] for r in tuning.results(tuner)] == KLD_WEIGHTS


def test_a_damaged_search_state_is_one_line_naming_the_file(tmp_path):
    _interrupt(_scripted_tuner("grid", tmp_path, interrupt_at=1))
    oracle_file = tmp_path / "sweep" / "oracle.json"
    oracle_file.write_text(oracle_file.read_text()[:20])  # cut short
    from kerasgen.errors import RunError

    with pytest.raises(RunError, match=r"damaged: .*oracle.json cannot be read.*--overwrite"):
        _scripted_tuner("grid", tmp_path)


# ---- the scripts: Ctrl-C, resuming, bad options ----------------------------------------------


SWEEP = [os.path.join(ROOT, "tuning", "tune_vae_kld.py"), "--kld-weight", "0.1,1,10",
         "--trials", "3", "--epochs", "1", "--n-images", "64", "--batch-size", "32",
         "--image-size", "16", "--quality-images", "64", "--latent-dim", "8"]


def _sweep_env():
    return {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "PYTHONUNBUFFERED": "1"}


def _ctrl_c_in_trial_2(command, stderr_path):
    """Runs the sweep and presses Ctrl-C (SIGINT, as a terminal sends it) once its second
    trial has begun; returns the process, its stdout and stderr."""
    import signal

    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env=_sweep_env())
        out = []
        for line in process.stdout:  # KerasTuner prints this once the trial is recorded
            out.append(line)
            if "Running Trial #2" in line:
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=300)
    return process, "".join(out) + rest, open(stderr_path).read()


@pytest.mark.parametrize("kind", [pytest.param("grid", marks=pytest.mark.backend), "random"])
def test_ctrl_c_ends_a_sweep_with_one_line_and_the_rerun_finishes_each_trial_once(tmp_path,
                                                                                  kind):
    out = tmp_path / "sweep"
    command = [sys.executable, *SWEEP, "--tuner", kind, "--out", str(out)]
    process, stdout, stderr = _ctrl_c_in_trial_2(command, tmp_path / "stderr.txt")
    assert process.returncode == 130, stdout[-2000:] + stderr[-3000:]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-3000:]
    ours = [line for line in stderr.splitlines() if "kerasgen" in line]
    assert ours == ["kerasgen sweep: interrupted; run the same command again to finish the "
                    "remaining trials (1 of 3 trials done)."], stderr[-3000:]
    trial = json.loads((out / "search" / "vae_kld" / "trial_1" / "trial.json").read_text())
    assert trial["status"] == "RUNNING"  # stopped in the middle of trial 2 (id 1)

    rerun = subprocess.run(command, capture_output=True, text=True, env=_sweep_env(),
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]
    assert f"resuming the search in {out / 'search' / 'vae_kld'}: 1 of 3 trials done; trial 1 " \
           "(interrupted) runs again" in rerun.stdout
    assert rerun.stdout.count(" Complete [") == 2  # trial 1 again, then trial 2
    rows = json.loads((out / "results.json").read_text())
    assert [(r["trial"], r["status"]) for r in rows] == [
        ("0", "COMPLETED"), ("1", "COMPLETED"), ("2", "COMPLETED")]
    assert sorted(r["kld_weight"] for r in rows) == [0.1, 1.0, 10.0]  # each value once
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 3
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]  # written atomically

    if kind == "random":  # once (the tensorflow pass): a finished sweep runs nothing
        again = subprocess.run(command, capture_output=True, text=True, env=_sweep_env(),
                               timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "nothing left to do: all 3 trials" in again.stdout
        assert " Complete [" not in again.stdout and "best trial" in again.stdout
        assert json.loads((out / "results.json").read_text()) == rows


def test_bad_options_end_the_sweep_with_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep"
    command = [sys.executable, *SWEEP, "--trials", "0", "--out", str(out)]
    bad = subprocess.run(command, capture_output=True, text=True, env=_sweep_env(), timeout=300)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if "kerasgen" in line] == [
        "kerasgen sweep: error: --trials must be an integer >= 1; received --trials=0."]
    assert not out.exists()  # nothing started

    script = _script("tune_vae_kld")

    def work(*args, **kwargs):
        raise AssertionError("the sweep started working despite a bad option")

    monkeypatch.setattr(script.common, "make_tuner", work)  # the first work: builds a model
    for options, message in [
        (["--epochs", "-1"], "--epochs must be an integer >= 1; received --epochs=-1."),
        (["--quality-images", "2"], "--quality-images must be an integer >= 4"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 1"),
        (["--n-images", "0"], "--n-images must be an integer >= 1"),
        (["--image-size", "20"], "--image-size must be one of (16, 32, 64, 128, 256)"),
        (["--trials", "three"], "argument --trials: invalid int value: 'three'"),
        (["--kld-weight", "1:ten"], "'ten' is not a number (in --kld-weight '1:ten')"),
        (["--kld-weight", "0.0:10"], "--kld-weight '0.0:10': a range LOW:HIGH is searched on"),
        (["--tuner", "annealing"], "argument --tuner: invalid choice: 'annealing'"),
    ]:
        monkeypatch.setattr(sys, "argv", ["tune_vae_kld.py", *SWEEP[1:], "--out", str(out),
                                          *options])
        with pytest.raises(SystemExit) as exit:
            script.common.run(script.main)
        assert exit.value.code == 2, options
        err = capsys.readouterr().err
        assert err.startswith("kerasgen sweep: error: ") and err.count("\n") == 1, err
        assert message in err, err
        assert not out.exists()
