"""The CelebA-64 protocol as one command: `kerasgen features convert` and `kerasgen eval
--features inception-2015 --data celeba PATH`, end to end on a CelebA-layout folder and random
FID Inception weights (the real ones cannot be downloaded here; `tests/test_fid_inception.py`
checks the network against torch-fidelity with the same random weights)."""

import json

import numpy as np
import pytest

import kerasgen
from kerasgen import cli
from kerasgen import features
from kerasgen import metrics

from helpers.common import write_celeba
from helpers.reference import random_state_dict


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("protocol")
    pth = root / features.TORCH_FIDELITY_WEIGHTS
    torch.save({k: torch.from_numpy(v) for k, v in random_state_dict(seed=3).items()}, pth)
    model = kerasgen.DCGAN(image_size=16, latent_dim=8, width=8, seed=0)
    model.save(root / "model.keras")
    write_celeba(root / "celeba", n=12)
    return root


def run(capsys, *argv):
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_convert_then_eval_on_a_celeba_folder(setup, capsys, monkeypatch):
    monkeypatch.setenv("KERASGEN_CACHE", str(setup / "cache"))
    converted = setup / "fid.weights.h5"
    code, out, err = run(capsys, "features", "convert", setup / features.TORCH_FIDELITY_WEIGHTS,
                         converted)
    assert code == 0 and converted.exists() and "wrote" in out, err
    before = converted.read_bytes()
    code, out, _ = run(capsys, "features", "convert", setup / features.TORCH_FIDELITY_WEIGHTS,
                       converted)
    assert code == 0 and "nothing to do" in out and converted.read_bytes() == before

    report = setup / "report.json"
    evaluate = ["eval", setup / "model.keras", "--features", "inception-2015", "--fid-weights",
                converted, "--data", "celeba", setup / "celeba", "--n", "6", "--subset", "6",
                "--batch-size", "4", "--json", report]
    code, out, err = run(capsys, *evaluate)
    assert code == 0, err
    result = json.loads(report.read_text())
    protocol = result["protocol"]
    # The protocol is stated: features, split (train by default), counts, resize.
    assert (protocol["features"], protocol["split"], protocol["generated_images"],
            protocol["real_images"], protocol["resize"]) == ("inception-2015", "train", 6, 8,
                                                             "tf1")
    assert "inception-2015 features (tf1 resize to 299 px); 6 generated images vs 8 real " \
           "images of celeba" in out
    assert set(result["metrics"]) == {"fid", "kid", "kid_std", "is", "is_std", "precision",
                                      "recall", "seconds"}
    # The numbers are the formulas on the extractor's own outputs.
    extractor = features.FIDInception(weights=str(converted))
    model = cli.load_kerasgen_model(str(setup / "model.keras"))
    generated = model.generate(6, seed=0)
    feats, logits = extractor.features_and_logits(generated)
    assert result["metrics"]["is"] == pytest.approx(
        metrics.inception_score(logits, splits=6)[0], rel=1e-9)
    # Reference statistics (mu, sigma, as TTUR and clean-fid publish them) of the same
    # generated images: the FID of the model against them is 0.
    stats = setup / "stats.npz"
    mu, sigma = metrics.feature_statistics(feats)
    np.savez(stats, mu=mu, sigma=sigma)
    code, out, err = run(capsys, "eval", setup / "model.keras", "--features", "inception-2015",
                         "--fid-weights", converted, "--reference-stats", stats, "--n", "6")
    assert code == 0, err
    fid = float(out.split("fid")[1].split()[0])
    assert abs(fid) < 1e-3 * np.trace(sigma)
    assert f"vs the statistics in {stats}" in out
    # KID and the rest need real features, which reference statistics do not have.
    code, _, err = run(capsys, "eval", setup / "model.keras", "--features", "inception-2015",
                       "--fid-weights", converted, "--reference-stats", stats, "--metrics",
                       "fid,kid")
    assert code == 2 and "kid need real images' features" in err


def test_missing_fid_weights_and_ambiguous_inception_are_one_line(setup, capsys, monkeypatch):
    monkeypatch.setenv("KERASGEN_CACHE", str(setup / "empty-cache"))
    monkeypatch.setenv("TORCH_HOME", str(setup / "no-torch-home"))
    monkeypatch.delenv("KERASGEN_FID_WEIGHTS", raising=False)
    code, _, err = run(capsys, "eval", setup / "model.keras", "--features", "inception-2015",
                       "--n", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert features.TORCH_FIDELITY_WEIGHTS in err and "kerasgen features convert" in err
    code, _, err = run(capsys, "eval", setup / "model.keras", "--features", "inception")
    assert code == 2 and "inception-2015" in err and "keras-imagenet" in err
