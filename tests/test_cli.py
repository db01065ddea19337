"""The `kerasgen` command, run as a user runs it: in a subprocess, checking files and exit codes."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from kerasgen import models as _models  # noqa: F401  (registers the classes load_model needs)

TINY = ["--image-size", "16", "--width", "8", "--latent-dim", "8", "--batch-size", "16",
        "--grid-size", "4"]


def kerasgen(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kerasgen", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def in_process(capsys):
    """Runs `kerasgen.cli.main` in this process, for commands that fail before training:
    the same code path, exit status and messages as the command, without starting Python and
    importing TensorFlow again (a subprocess costs seconds)."""
    from kerasgen import cli

    def run(*args):
        capsys.readouterr()
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as e:  # argparse's own errors
            code = e.code
        out, err = capsys.readouterr()
        return _Result(code, out, err)

    return run


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("kerasgen: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    for needle in needles:
        assert str(needle) in lines[0], lines[0]


@pytest.mark.backend
def test_train_then_sample(tmp_path):
    out = tmp_path / "run"
    result = kerasgen("train", "dcgan", *TINY, "--n-images", "64", "--epochs", "2", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["epoch_0001.png", "epoch_0002.png", "losses.csv", "losses.png",
                       "model.keras", "progress.gif", "run.json"]  # no backup after a finished run
    assert f"backend; writing to {out}" in result.stdout

    grid = tmp_path / "grid.png"
    result = kerasgen("sample", out / "model.keras", "--n", "9", "--seed", "1", "--out", grid)
    assert result.returncode == 0, result.stderr[-3000:]
    assert np.asarray(Image.open(grid)).shape == (3 * 18 + 2, 3 * 18 + 2, 3)


@pytest.mark.backend
def test_the_same_seed_trains_the_same_model_and_another_seed_another(tmp_path):
    # Two runs with --seed 3 start from the same initial weights (Keras' global generators are
    # seeded) and see the same batches: after one step their weights agree to float round-off;
    # --seed 4 starts elsewhere (DCGAN's N(0, 0.02) init: differences of order 0.02).
    weights = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = kerasgen("train", "dcgan", *TINY, "--n-images", "16", "--epochs", "1",
                          "--seed", seed, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr[-3000:]
        model = keras.saving.load_model(tmp_path / name / "model.keras")
        weights.append(np.concatenate([np.ravel(w) for w in model.get_weights()]))
    assert np.abs(weights[0] - weights[1]).max() < 1e-5
    assert np.abs(weights[0] - weights[2]).max() > 1e-2


def test_missing_folder_is_one_line(tmp_path, in_process):
    missing = tmp_path / "no_such_folder"
    assert_one_line_error(in_process("train", "dcgan", *TINY, "--data", "folder", missing), missing)


def test_corrupt_image_is_named(tmp_path, in_process):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, "uint8")).save(folder / f"ok_{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert_one_line_error(in_process("train", "dcgan", *TINY, "--data", "folder", folder),
                          "broken.jpg")


def test_celeba_without_partition_file_is_named(tmp_path, in_process):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    Image.fromarray(np.zeros((218, 178, 3), "uint8")).save(root / "img_align_celeba" / "000001.jpg")
    assert_one_line_error(in_process("train", "dcgan", *TINY, "--data", "celeba", root),
                          "list_eval_partition.txt")


def test_data_source_errors(tmp_path, in_process):
    assert_one_line_error(in_process("train", "dcgan", "--data", "imagenet"), "imagenet")
    assert_one_line_error(in_process("train", "dcgan", "--data", "folder"), "PATH")


def test_sample_errors(tmp_path, in_process):
    assert_one_line_error(in_process("sample", tmp_path / "none.keras"), "none.keras")
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("this is not a model")
    assert_one_line_error(in_process("sample", bogus), "bogus.keras")


def test_preview_writes_the_data_and_attribute_rates(tmp_path):
    out = tmp_path / "data.png"
    result = kerasgen("preview", "--image-size", "32", "--n-images", "128", "--batch-size", "32",
                      "--n", "40", "--attributes", "Male,Eyeglasses", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    grid = np.asarray(Image.open(out))
    assert grid.shape == (6 * 34 + 2, 7 * 34 + 2, 3) and grid.std() > 20  # 40 faces, 7 a row
    from kerasgen.data import synthetic_faces

    labels = np.concatenate([synthetic_faces(n=128, image_size=32, batch_size=32,
                                             attributes=["Male", "Eyeglasses"])[i][1]
                             for i in range(2)])[:40]
    for name, rate in zip(["Male", "Eyeglasses"], labels.mean(axis=0)):
        assert f"{name:<22} {rate:6.1%}" in result.stdout, result.stdout


def test_unknown_attribute_lists_the_valid_ones(tmp_path, in_process):
    result = in_process("preview", "--attributes", "Male,Wearing_Monocle", "--out", tmp_path / "x.png")
    assert_one_line_error(result, "Wearing_Monocle", "Smiling", "Eyeglasses")
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), "uint8")).save(folder / "a.png")
    assert_one_line_error(in_process("preview", "--data", "folder", folder, "--attributes", "Male"),
                          str(folder), "attribute")
    assert not (tmp_path / "x.png").exists()


def test_backend_option_switches_backend(tmp_path):
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    result = kerasgen("--backend", other, "train", "dcgan", *TINY, "--n-images", "16",
                      "--epochs", "1", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"with the {other} backend" in result.stdout, result.stdout


@pytest.mark.backend
def test_train_wgan_gp_with_its_options(tmp_path):
    out = tmp_path / "wgan"
    result = kerasgen("train", "wgan-gp", *TINY, "--n-images", "32", "--epochs", "1",
                      "--n-critic", "2", "--gp-weight", "5", "--learning-rate", "3e-4",
                      "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    model = keras.models.load_model(out / "model.keras")
    assert (type(model).__name__, model.n_critic, model.gp_weight) == ("WGANGP", 2, 5.0)
    rates = {name: float(keras.ops.convert_to_numpy(opt.learning_rate))
             for name, opt in model.optimizer.items()}
    assert rates == pytest.approx({"generator": 3e-4, "critic": 3e-4})
    assert int(keras.ops.convert_to_numpy(model.optimizer["critic"].iterations)) == 4


def test_bad_model_option_is_one_line(tmp_path, in_process):
    result = in_process("train", "dcgan", "--image-size", "48", "--out", tmp_path / "run")
    assert_one_line_error(result, "image_size", "48")
    assert not (tmp_path / "run").exists()


@pytest.mark.backend
def test_train_autoencoder_then_eval_recon_and_latent_pictures(tmp_path, in_process):
    out = tmp_path / "ae"
    result = kerasgen("train", "ae", *TINY, "--n-images", "32", "--epochs", "1", "--out", out,
                      "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    result = in_process("eval", out / "model.keras", "--n-images", "48",
                      "--batch-size", "16")
    assert result.returncode == 0, result.stderr[-3000:]
    from kerasgen.data import synthetic_faces
    from kerasgen.metrics import reconstruction_mse

    model = keras.models.load_model(out / "model.keras")
    expected, count = reconstruction_mse(
        model, synthetic_faces(n=48, image_size=16, batch_size=16, split="test"))
    assert count == 48
    assert "Autoencoder" in result.stdout and "synthetic test" in result.stdout
    assert re.search(rf"recon_mse +{expected:.6f} +48 images", result.stdout), result.stdout

    for kind, shape in [("stds", (8, 3)), ("interpolate", (2, 5)), ("pca", (2, 5))]:
        png = tmp_path / f"{kind}.png"
        result = in_process("latent", kind, out / "model.keras", "--n", shape[1], "--rows",
                          shape[0], "--n-images", "64", "--out", png)
        assert result.returncode == 0, result.stderr[-3000:]
        rows, cols = shape
        assert np.asarray(Image.open(png)).shape == (rows * 18 + 2, cols * 18 + 2, 3), kind
    assert "variance of the top 2 components" in result.stdout

    from kerasgen import DCGAN

    dcgan = tmp_path / "dcgan"
    dcgan.mkdir()
    DCGAN(image_size=16, latent_dim=8, width=8).save(dcgan / "model.keras")
    assert_one_line_error(in_process("eval", dcgan / "model.keras", "--metrics", "recon"),
                          "DCGAN", "does not reconstruct")
    assert_one_line_error(in_process("latent", "pca", dcgan / "model.keras"), "DCGAN has no encoder")


@pytest.mark.backend
def test_conditional_gan_train_sample_refine(tmp_path, in_process):
    classifier = tmp_path / "classifier.keras"
    result = kerasgen("classifier", "--attributes", "Eyeglasses,Male", "--image-size", "16",
                      "--width", "8", "--n-images", "64", "--batch-size", "16", "--epochs", "1",
                      "--eval-images", "32", "--out", classifier)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy on validation" in result.stdout and "Eyeglasses" in result.stdout

    out = tmp_path / "cgan"
    result = kerasgen("train", "cgan", *TINY, "--attributes", "Male,Eyeglasses", "--n-images", "32",
                      "--epochs", "1", "--classifier", classifier, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "attr_acc" in result.stdout  # the callback's measurement reached the epoch's logs
    model = keras.models.load_model(out / "model.keras")
    assert list(model.attributes) == ["Male", "Eyeglasses"]

    grid = tmp_path / "glasses.png"
    result = in_process("sample", out / "model.keras", "--n", "4", "--set", "Eyeglasses=1,Male=-1",
                      "--out", grid)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = model.generate(4, seed=0, attributes={"Eyeglasses": 1, "Male": 0})
    shown = np.asarray(Image.open(grid))[2:18, 2:18] / 255.0
    np.testing.assert_allclose(shown, expected[0], atol=1 / 255 + 1e-6)

    face = tmp_path / "face.png"
    Image.fromarray(np.full((40, 30, 3), 120, "uint8")).save(face)
    refined = tmp_path / "refined.png"
    for how in (["--current", "Male=1"], ["--classifier", classifier]):
        result = in_process("refine", out / "model.keras", face, face, "--set", "Eyeglasses=1",
                          *how, "--out", refined)
        assert result.returncode == 0, result.stderr[-3000:]
        assert np.asarray(Image.open(refined)).shape == (2 * 18 + 2, 2 * 18 + 2, 3)

    report = tmp_path / "quality.json"
    evaluate = ("eval", out / "model.keras", "--features", classifier, "--n", "48", "--n-images",
                "64", "--batch-size", "16", "--json", report)
    result = in_process(*evaluate)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("classifier:Eyeglasses,Male features; 48 generated images vs 64 real images of "
            "synthetic test; NOT comparable with published FIDs") in result.stdout
    import json

    written = json.loads(report.read_text())
    assert set(written["metrics"]) == {"fid", "kid", "kid_std", "precision", "recall", "seconds"}
    assert written["metrics"]["fid"] > 0 and 0 <= written["metrics"]["recall"] <= 1
    cached = list((tmp_path / "kerasgen-cache" / "features").glob("synthetic*.npz"))
    assert len(cached) == 1  # keyed by the data set, the extractor and the count
    again = in_process(*evaluate, "--metrics", "fid")  # the real features come from the cache
    assert again.returncode == 0, again.stderr[-3000:]
    assert "of real images" not in again.stdout and "of real images" in result.stdout
    # Same real features (now from the cache), same latents: the same FID, up to round-off.
    assert json.loads(report.read_text())["metrics"]["fid"] == pytest.approx(
        written["metrics"]["fid"], rel=1e-3)
    assert_one_line_error(in_process("eval", out / "model.keras"), "--features")
    assert_one_line_error(in_process(*evaluate, "--metrics", "fid,ppl"), "ppl",
                          "recon, fid, kid, is, pr, dc")
    assert_one_line_error(in_process(*evaluate, "--metrics", "fid,is"), "Inception Score",
                          "inception-2015")

    assert_one_line_error(in_process("refine", out / "model.keras", face, "--set", "Eyeglasses=1"),
                          "--current")
    assert_one_line_error(in_process("refine", out / "model.keras", tmp_path / "nope.png", "--set",
                                   "Eyeglasses=1", "--current", "Male=1"), "nope.png")
    assert_one_line_error(in_process("sample", out / "model.keras", "--set", "Monocle=1"),
                          "Monocle", "Eyeglasses")
    assert_one_line_error(in_process("train", "cgan", "--attributes", "Male,Monocle"),
                          "Monocle", "Smiling")


@pytest.mark.backend
def test_train_diffusion_then_sample_with_steps(tmp_path, in_process):
    out = tmp_path / "run"
    options = ["--image-size", "16", "--width", "8", "--batch-size", "16", "--grid-size", "4",
               "--n-images", "32", "--timesteps", "50", "--schedule", "linear"]
    result = kerasgen("train", "diffusion", *options, "--epochs", "1", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "epoch_0001.png").exists() and (out / "model.keras").exists()
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path in (first, second):
        result = in_process("sample", out / "model.keras", "--n", "4", "--steps", "3",
                            "--out", path)
        assert result.returncode == 0, result.stderr
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))
    assert_one_line_error(in_process("sample", out / "model.keras", "--steps", "80",
                                     "--out", tmp_path / "c.png"), "steps", "<= 50", "80")
    dcgan = tmp_path / "dcgan"
    assert kerasgen("train", "dcgan", *TINY, "--n-images", "32", "--epochs", "1", "--out",
                    dcgan).returncode == 0
    assert_one_line_error(in_process("sample", dcgan / "model.keras", "--steps", "3",
                                     "--out", tmp_path / "d.png"), "--steps", "diffusion")
