"""The FID papers' Inception (`kerasgen.features.FIDInception`) against torch-fidelity's, offline.

torch-fidelity's `FeatureExtractorInceptionV3` and kerasgen's port load the same state dict of
random weights (scaled so that activations neither vanish nor explode) and must give the same
pool features, logits and FID; the resizes are compared with torch-fidelity's and PIL's own code.
The real weights are not needed: what is tested is the architecture, the weight mapping and the
preprocessing, which random weights exercise as well as trained ones.
"""

import os
import sys
import warnings

import keras
import numpy as np
import pytest

from kerasgen import features
from kerasgen import metrics
from kerasgen.data import synthetic_faces
from kerasgen.errors import DataError
from kerasgen.nets import inception

from helpers.reference import random_state_dict
from helpers.reference import torch_fidelity


@pytest.fixture(scope="module")
def torch_weights(tmp_path_factory):
    """The random state dict saved as torch-fidelity's `.pth` would be."""
    import torch
    state = random_state_dict()
    path = tmp_path_factory.mktemp("fid-weights") / features.TORCH_FIDELITY_WEIGHTS
    torch_state = {key: torch.from_numpy(value) for key, value in state.items()}
    torch_state.update({key.replace("running_var", "num_batches_tracked"): torch.tensor(0)
                        for key in state if key.endswith("running_var")})
    torch.save(torch_state, path)
    return str(path)


@pytest.fixture(scope="module")
def image_sets():
    """8 synthetic faces at 64 px and 4 blotchy images at 299 px (other statistics: FID > 0)."""
    faces = synthetic_faces(n=8, image_size=64, batch_size=8, shuffle=False)[0]
    rng = np.random.default_rng(1)
    coarse = np.kron(rng.uniform(0, 255, (4, 13, 13, 3)), np.ones((1, 23, 23, 1)))
    blotches = np.clip(coarse + rng.normal(0, 20, coarse.shape), 0, 255).astype("uint8")
    return faces, blotches


@pytest.fixture(scope="module")
def reference(torch_weights, image_sets):
    """torch-fidelity's pool features and `logits_unbiased` of both image sets."""
    import torch
    extractor_module = torch_fidelity("feature_extractor_inceptionv3")
    extractor = extractor_module.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"],
        feature_extractor_weights_path=torch_weights).eval()
    out = []
    with torch.no_grad():
        for images in image_sets:
            pool, logits = extractor(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
            out.append((pool.numpy().astype("float64"), logits.numpy().astype("float64")))
    return out


def _relative_error(actual, expected):
    """Largest absolute difference relative to the largest magnitude (the feature scale)."""
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.mark.backend
def test_features_logits_and_fid_agree_withtorch_fidelity(torch_weights, image_sets, reference):
    # batch_size=3: the 8 and 4 images end in padded batches of one compiled shape.
    extractor = features.FIDInception(weights=torch_weights, batch_size=3)
    assert extractor.name == "inception-2015" and len(extractor.fingerprint) == 12
    ours = [extractor.features_and_logits(images) for images in image_sets]
    errors = {}
    for (pool, logits), (ref_pool, ref_logits), images in zip(ours, reference, image_sets):
        size = images.shape[1]
        assert pool.shape == (len(images), 2048) and pool.dtype == np.float64
        assert logits.shape == (len(images), 1008) and logits.dtype == np.float64
        # The random network is not degenerate: most features are positive, and they differ
        # between images by a good part of their scale.
        assert (ref_pool > 0).mean() > 0.5
        assert np.std(ref_pool, axis=0).max() > 0.02 * np.abs(ref_pool).max()
        errors[f"features {size}px"] = _relative_error(pool, ref_pool)
        errors[f"logits {size}px"] = _relative_error(logits, ref_logits)
    print("relative errors against torch-fidelity:", errors)
    assert max(errors.values()) < 1e-4, errors
    # The entry points agree with the one pass, and float images in [0, 1] are quantised to the
    # same uint8 values.
    faces = image_sets[0][:3]
    np.testing.assert_array_equal(extractor(faces / 255.0), ours[0][0][:3])
    np.testing.assert_array_equal(extractor.logits(faces), ours[0][1][:3])

    # FID between the 8 faces and the 4 blotches on the full 2048-d features, as users compute
    # it (covariances of rank 7 and 3: degenerate as an estimate, but a deterministic number
    # that every feature error moves).
    def fid(a, b):
        return metrics.frechet_distance(*metrics.feature_statistics(a),
                                        *metrics.feature_statistics(b))

    ours_fid = fid(ours[0][0], ours[1][0])
    theirs_fid = fid(reference[0][0], reference[1][0])
    print(f"FID ours {ours_fid!r}, torch-fidelity features {theirs_fid!r}")
    assert ours_fid > 1.0 and ours_fid == pytest.approx(theirs_fid, rel=1e-3)
    # torch-fidelity's own statistics and FID (scipy's sqrtm) on its own float32 features, on
    # the first 256 of the 2048 dims (sqrtm of a singular 2048x2048 product takes a minute).
    metric_fid = torch_fidelity("metric_fid")
    import torch

    dims = slice(0, 256)
    stats = [metric_fid.fid_features_to_statistics(torch.from_numpy(pool[:, dims]).float())
             for pool, _ in reference]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy: "Matrix is singular" (8 and 4 samples)
        their_fid = metric_fid.fid_statistics_to_metric(*stats, verbose=False)[
            metric_fid.KEY_METRIC_FID]
    ours_fid = fid(ours[0][0][:, dims], ours[1][0][:, dims])
    print(f"256-d FID: ours {ours_fid!r}, torch-fidelity's {their_fid!r}")
    assert ours_fid > 1.0 and ours_fid == pytest.approx(their_fid, rel=1e-3)


def test_tf1_resize_is_torch_fidelitys_bit_for_bit():
    import torch
    compat = torch_fidelity("interpolate_compat_tensorflow")
    resize = compat.interpolate_bilinear_2d_like_tensorflow1x
    rng = np.random.default_rng(0)
    for height, width in [(64, 64), (32, 48), (500, 400), (7, 300), (1, 1), (299, 299)]:
        images = rng.integers(0, 256, (2, height, width, 3)).astype("float32")
        expected = resize(torch.from_numpy(images).permute(0, 3, 1, 2), size=(299, 299),
                          align_corners=False).permute(0, 2, 3, 1).numpy()
        np.testing.assert_array_equal(features.resize_tf1(images), expected)


def test_clean_resize_is_clean_fids_pil_bicubic():
    from PIL import Image

    images = np.random.default_rng(0).integers(0, 256, (2, 20, 24, 3), dtype="uint8")
    out = features.resize_clean(images, size=9)
    assert out.shape == (2, 9, 9, 3) and out.dtype == np.float32
    for i in range(2):  # clean-fid's make_resizer("PIL", False, "bicubic", (9, 9)), verbatim
        channels = []
        for c in range(3):
            image = Image.fromarray(images[i, :, :, c].astype(np.float32), mode="F")
            image = image.resize((9, 9), resample=Image.BICUBIC)
            channels.append(np.asarray(image).clip(0, 255).reshape(9, 9, 1))
        np.testing.assert_array_equal(out[i], np.concatenate(channels, axis=2))
    # Bicubic overshoots at edges (values outside [0, 255] before the clip), unlike bilinear.
    edge = np.zeros((1, 8, 8, 3), "uint8")
    edge[:, :, 4:] = 255
    assert features.resize_clean(edge, size=13).min() == 0.0


@pytest.mark.backend
def test_converted_weights_are_the_same_and_need_no_torch(torch_weights, tmp_path, monkeypatch):
    from_torch = features.FIDInception(weights=torch_weights)
    expected = inception.get_torch_weights(from_torch.network)
    assert set(expected) == set(random_state_dict()) - {"fc.bias"}
    np.testing.assert_array_equal(expected["Mixed_7c.branch_pool.conv.weight"],
                                  random_state_dict()["Mixed_7c.branch_pool.conv.weight"])
    for name in ("fid.weights.h5", "fid.npz"):
        path = features.convert_fid_weights(torch_weights, tmp_path / name)
        assert path == str(tmp_path / name)
        with monkeypatch.context() as patch:
            patch.setattr(features, "_read_torch_file", None)  # the .pth reader is not called
            if keras.backend.backend() != "torch":  # (Keras' torch backend imports torch)
                patch.setitem(sys.modules, "torch", None)  # and `import torch` would fail
            network = inception.fid_inception_v3()
            features.load_fid_weights(network, path)
        loaded = inception.get_torch_weights(network)
        for key, value in expected.items():
            np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    # Same weights, same fingerprint, whatever the file; the resize does change the name.
    converted = features.FIDInception(weights=tmp_path / "fid.weights.h5", resize="clean")
    assert converted.fingerprint == from_torch.fingerprint
    assert converted.name == "inception-2015-clean"
    images = np.random.default_rng(0).integers(0, 256, (1, 40, 30, 3), dtype="uint8")
    np.testing.assert_array_equal(converted.preprocess(images),
                                  (features.resize_clean(images) - 128) / 128)
    with pytest.raises(DataError, match=r"float64 images must be in \[0, 1\]; got values in "
                                        r"\[-1, 1\]"):
        converted.preprocess(images / 127.5 - 1.0)  # a tanh generator's range: say so
    # The default output is where FIDInception(weights=None) looks first after the variable.
    assert features.convert_fid_weights(tmp_path / "fid.npz") == features.default_fid_weights_path()
    assert features.find_fid_weights() == features.default_fid_weights_path()


def test_pth_without_torch_says_to_convert(torch_weights, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DataError, match="needs PyTorch.*kerasgen features convert") as error:
        features._read_torch_file(torch_weights)
    assert "\n" not in str(error.value)


def test_missing_weights_say_which_file_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("KERASGEN_FID_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DataError) as error:
        features.FIDInception()
    message = str(error.value)
    hub = os.path.join(str(tmp_path), "torch", "hub", "checkpoints")
    assert "\n" not in message
    for part in ("KERASGEN_FID_WEIGHTS", features.default_fid_weights_path(),
                 os.path.join(hub, features.TORCH_FIDELITY_WEIGHTS),
                 os.path.join(hub, features.PYTORCH_FID_WEIGHTS), features.TORCH_FIDELITY_URL,
                 f"kerasgen features convert {features.TORCH_FIDELITY_WEIGHTS}"):
        assert part in message, part
    assert os.environ["KERASGEN_CACHE"] in features.default_fid_weights_path()

    # The search order: the variable, kerasgen's cache, torch-fidelity's, pytorch-fid's file.
    places = [os.path.join(hub, features.PYTORCH_FID_WEIGHTS),
              os.path.join(hub, features.TORCH_FIDELITY_WEIGHTS),
              features.default_fid_weights_path(), str(tmp_path / "chosen.npz")]
    for place in places:
        os.makedirs(os.path.dirname(place), exist_ok=True)
        open(place, "w").close()
        if place.endswith("chosen.npz"):
            monkeypatch.setenv("KERASGEN_FID_WEIGHTS", place)
        assert features.find_fid_weights() == place
    monkeypatch.setenv("KERASGEN_FID_WEIGHTS", str(tmp_path / "gone.pth"))
    with pytest.raises(DataError, match="KERASGEN_FID_WEIGHTS=.*gone.pth names no file"):
        features.find_fid_weights()
    with pytest.raises(DataError, match="no FID Inception weights at .*elsewhere.pth"):
        features.FIDInception(weights=tmp_path / "elsewhere.pth")
    with pytest.raises(DataError, match=r"must be a \.pth, \.pt, \.npz, \.weights\.h5 file"):
        features.FIDInception(weights=tmp_path / "chosen.npy")


def test_a_state_dict_of_another_network_is_refused():
    network = inception.fid_inception_v3()
    state = {key: np.zeros(shape, "float32")
             for key, shape in inception.torch_weight_shapes(network).items()}
    del state["Mixed_6b.branch7x7_2.conv.weight"]
    with pytest.raises(DataError, match=r"1 weights missing \(first: \['Mixed_6b.branch7x7_2"):
        inception.set_torch_weights(network, state, source="x.pth")
    state["Mixed_6b.branch7x7_2.conv.weight"] = np.zeros((128, 128, 7, 1), "float32")
    with pytest.raises(DataError, match=r"x.pth: Mixed_6b.branch7x7_2.conv.weight has shape "
                                        r"\(128, 128, 7, 1\).*needs \(128, 128, 1, 7\)"):
        inception.set_torch_weights(network, state, source="x.pth")
