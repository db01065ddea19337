"""examples/quality_table.py: a rerun keeps every row already measured (named again or not),
scores the new recipes in the same features (the classifier the first run trained and saved),
and refuses to mix feature spaces."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "examples", "quality_table.py")
TINY = ["--image-size", "16", "--minutes", "0.005", "--epochs", "1", "--n-images", "128",
        "--n", "64", "--classifier-epochs", "1", "--batch-size", "32"]


def run(out, recipes):
    return subprocess.run([sys.executable, SCRIPT, *TINY, "--recipes", recipes, "--out", str(out)],
                          capture_output=True, text=True, timeout=900)


def table(out):
    with open(os.path.join(out, "table.json")) as f:
        return json.load(f)


@pytest.mark.backend
def test_a_rerun_scores_new_recipes_with_the_first_runs_classifier(tmp_path):
    first = run(tmp_path, "ae")
    assert first.returncode == 0, first.stderr[-3000:]
    before = table(tmp_path)
    assert [r["recipe"] for r in before["rows"]] == ["real", "ae"]
    assert len(before["fingerprint"]) == 12

    second = run(tmp_path, "ae,vae")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "ae measured already" in second.stdout
    after = table(tmp_path)
    assert after["fingerprint"] == before["fingerprint"]  # the saved classifier, not a new one
    assert after["rows"][:2] == before["rows"]  # the real faces' and ae's rows as they were
    assert [(r["recipe"], r["ema"]) for r in after["rows"][2:]] == [("vae", False), ("vae", True)]

    # A rerun that names only some recipes keeps every row (it once dropped the unnamed ones).
    rerun = run(tmp_path, "vae")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "vae measured already" in rerun.stdout
    assert table(tmp_path)["rows"] == after["rows"]

    os.remove(tmp_path / "classifier.keras")
    third = run(tmp_path, "ae,dcgan")
    assert third.returncode != 0
    assert "has rows but no classifier.keras" in third.stderr
    assert "Traceback" not in third.stderr
    assert table(tmp_path)["rows"] == after["rows"]  # nothing measured was lost
