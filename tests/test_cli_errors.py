"""Every bad value or file a user can give the `kerasgen` command: one line on stderr that names
it, exit status 2, and nothing already written changed (file hashes). The commands run in this
process (`kerasgen.cli.main`), exactly as the console script runs them."""

import numpy as np
import pytest
from PIL import Image

from kerasgen import cli

from helpers.common import hashes

TINY = ["--image-size", "16", "--width", "8", "--latent-dim", "8", "--batch-size", "16",
        "--n-images", "32", "--grid-size", "4", "--quiet"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with what a user made: a finished run (model, grids, record), a truncated
    `.keras`, a file where a folder is expected, a CelebA folder with a corrupt attribute file."""
    root = tmp_path_factory.mktemp("work")
    assert cli.main(["train", "dcgan", *TINY, "--epochs", "1", "--out", str(root / "run")]) == 0
    model = (root / "run" / "model.keras").read_bytes()
    (root / "truncated.keras").write_bytes(model[:1600])
    (root / "notes.txt").write_text("a user's file")
    celeba = root / "celeba"
    (celeba / "img_align_celeba").mkdir(parents=True)
    for i in (1, 2):
        Image.fromarray(np.zeros((218, 178, 3), "uint8")).save(
            celeba / "img_align_celeba" / f"00000{i}.jpg")
    (celeba / "list_attr_celeba.txt").write_text(
        "2\nMale Smiling\n000001.jpg 1 -1\n000002.jpg 1 yes\n")
    (celeba / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n")
    return root


MODEL = "{work}/run/model.keras"

#: (command line, what the one line must name). {work} is the fixture's folder.
CASES = [
    (["train", "dcgan", "--epochs", "0"], ["--epochs", ">= 1", "0"]),
    (["train", "dcgan", "--epochs", "-1"], ["--epochs", "-1"]),
    (["train", "dcgan", "--epochs", "x"], ["--epochs", "'x'"]),
    (["train", "dcgan", "--learning-rate", "-1"], ["--learning-rate", "> 0", "-1"]),
    (["train", "dcgan", "--learning-rate", "nan"], ["--learning-rate", "nan"]),
    (["train", "dcgan", "--steps-per-execution", "0"], ["--steps-per-execution", ">= 1", "0"]),
    (["train", "dcgan", "--steps-per-execution", "x"], ["--steps-per-execution", "'x'"]),
    (["train", "dcgan", "--out", "{work}/notes.txt"], ["--out", "existing file", "notes.txt"]),
    (["train", "dcgan", "--out", "{work}/notes.txt/run"], ["--out", "notes.txt is a file"]),
    (["train", "dcgan", *TINY, "--epochs", "1", "--out", "{work}/run", "--width", "16"],
     ["other settings", "width 8 -> 16", "--overwrite"]),
    (["train", "dcgan", "--image-size", "48"], ["image_size", "48"]),
    (["train", "vae", "--kld-weight", "-0.5"], ["--kld-weight", "-0.5"]),
    (["train", "dcgan", "--dropout", "1.5"], ["--dropout", "1.5"]),
    (["sample", MODEL, "--n", "0"], ["--n", ">= 1", "0"]),
    (["sample", MODEL, "--n", "-5"], ["--n", "-5"]),
    (["sample", MODEL, "--scale", "0"], ["--scale", "0"]),
    (["sample", MODEL, "--seed", "-1"], ["--seed", "-1"]),
    (["sample", MODEL, "--out", "{work}/x.xyz"], ["--out", ".png", "x.xyz"]),
    (["sample", "{work}/truncated.keras"], ["truncated.keras", "damaged"]),
    (["sample", "{work}/missing.keras"], ["no model file", "missing.keras"]),
    (["eval", MODEL, "--features", "{work}/missing.keras", "--n", "0"], ["--n", ">= 2"]),
    (["eval", MODEL, "--features", "{work}/missing.keras", "--n", "-5"], ["--n", "-5"]),
    (["eval", MODEL, "--json", "{work}/report.txt"], ["--json", ".json"]),
    (["explore", MODEL, "--port", "-1"], ["--port", "65535", "-1"]),
    (["explore", MODEL, "--port", "70000"], ["--port", "70000"]),
    (["classifier", "--attributes", "Male", "--out", "{work}/c.png"], ["--out", ".keras"]),
    (["preview", "--data", "celeba", "{work}/celeba", "--attributes", "Male", "--image-size",
      "16", "--batch-size", "1", "--out", "{work}/p.png"],
     ["list_attr_celeba.txt", "line 4", "yes"]),
    (["latent", "interpolate", MODEL, "--n", "1"], ["--n", ">= 2"]),
    (["train", "nosuchmodel"], ["nosuchmodel"]),
]


@pytest.mark.parametrize("argv, needles", CASES, ids=[" ".join(c[0][:4]) for c in CASES])
def test_bad_value_is_one_line_and_changes_nothing(argv, needles, work, capsys):
    before = hashes(work)
    argv = [a.format(work=work) for a in argv]
    capsys.readouterr()
    code = cli.main(argv)
    _, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasgen: error: "), err
    for needle in needles:
        assert needle.format(work=work) in lines[0], lines[0]
    assert hashes(work) == before
