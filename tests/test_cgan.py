"""ConditionalGAN (seed 003): its losses against hand computations, the mismatch sampler, the
training step on every backend, the attribute API and saving."""

import textwrap

import numpy as np
import pytest
from keras import ops

from kerasgen import ConditionalGAN
from kerasgen.data import synthetic_faces
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError
from kerasgen.models.cgan import DEFAULT_ATTRIBUTES
from kerasgen.losses import conditional_discriminator_loss
from kerasgen.models.cgan import flip_one_attribute

from helpers.common import bce as _bce
from helpers.common import images
from helpers.common import sigmoid as sig
from helpers.common import tiny_for

ATTRS = ("Male", "Smiling", "Eyeglasses")

tiny = tiny_for(ConditionalGAN, attributes=ATTRS)


def labels(n=32, k=3, seed=0):
    return (np.random.default_rng(seed + 100).random((n, k)) < 0.5).astype("float32")


def _np(x):
    return ops.convert_to_numpy(x)


# ---- losses -------------------------------------------------------------------------------


def test_conditional_discriminator_loss_is_the_seeds_sum():
    real = np.array([[2.0], [-1.0], [0.5]], "float32")
    fake = np.array([[-3.0], [0.2], [1.0]], "float32")
    mismatch = np.array([[0.7], [-0.4], [2.5]], "float32")
    expected = _bce(np.ones((3, 1)), real) + _bce(np.zeros((3, 1)), fake) \
        + 0.5 * _bce(np.zeros((3, 1)), mismatch)
    got = conditional_discriminator_loss(real, fake, mismatch, mismatch_weight=0.5)
    assert float(_np(got)) == pytest.approx(expected, rel=1e-5)
    smoothed = _bce(np.full((3, 1), 0.9), real) + _bce(np.zeros((3, 1)), fake) \
        + _bce(np.zeros((3, 1)), mismatch)
    got = conditional_discriminator_loss(real, fake, mismatch, real_targets=0.9)
    assert float(_np(got)) == pytest.approx(smoothed, rel=1e-5)


@pytest.mark.backend
def test_discriminator_loss_matches_hand_computation(monkeypatch):
    model = tiny()
    model.compile()
    z = np.random.default_rng(2).standard_normal((4, 8)).astype("float32")
    flip = np.array([2, 0, 1, 2], "int32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    monkeypatch.setattr(model, "mismatched", lambda s: flip_one_attribute(s, flip))
    x = model.to_model_range(images(4))
    a01 = labels(4)
    signs = 2 * a01 - 1
    loss, logs = model.discriminator_loss((x, ops.convert_to_tensor(signs)))
    wrong = signs.copy()
    wrong[np.arange(4), flip] *= -1
    t = ops.convert_to_tensor
    fake = model.generator([t(z), t(signs)], training=True)
    real_logits = _np(model.discriminator([x, t(signs)], training=True))
    fake_logits = _np(model.discriminator([fake, t(signs)], training=True))
    mismatch_logits = _np(model.discriminator([x, t(wrong)], training=True))
    expected = (_bce(np.ones_like(real_logits), real_logits)
                + _bce(np.zeros_like(fake_logits), fake_logits)
                + _bce(np.zeros_like(mismatch_logits), mismatch_logits))
    assert float(_np(loss)) == pytest.approx(expected, rel=1e-4)
    for name, logits in (("d_real", real_logits), ("d_fake", fake_logits),
                         ("d_mismatch", mismatch_logits)):
        assert float(_np(logs[name])) == pytest.approx(sig(logits).mean(), rel=1e-4)


@pytest.mark.backend
def test_generator_and_encoder_losses_match_hand_computation(monkeypatch):
    model = tiny(reconstruction_weight=2.0)
    model.compile()
    z = np.random.default_rng(3).standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    x = model.to_model_range(images(4))
    signs = ops.convert_to_tensor(2 * labels(4) - 1)
    z = ops.convert_to_tensor(z)
    g_loss, _ = model.generator_loss((x, signs))
    logits = _np(model.discriminator([model.generator([z, signs], training=True), signs],
                                     training=True))
    codes = model.encoder(x, training=True)
    redrawn = _np(model.generator([codes, signs], training=True))
    recon = np.mean(((redrawn - _np(x)) / 2.0) ** 2)  # MSE on [0, 1] pixels
    expected = _bce(np.ones_like(logits), logits) + 2.0 * recon
    assert float(_np(g_loss)) == pytest.approx(expected, rel=1e-4)
    e_loss, logs = model.encoder_loss((x, signs))
    redrawn = _np(model.generator([model.encoder(x, training=True), signs], training=False))
    expected = np.mean(((redrawn - _np(x)) / 2.0) ** 2)
    assert float(_np(e_loss)) == pytest.approx(expected, rel=1e-4)
    assert float(_np(logs["recon_loss"])) == pytest.approx(expected, rel=1e-4)


@pytest.mark.backend
def test_mismatched_attributes_differ_in_exactly_one_attribute_per_sample():
    model = tiny(attributes=DEFAULT_ATTRIBUTES)
    signs = 2 * labels(512, k=5) - 1
    wrong = _np(model.mismatched(ops.convert_to_tensor(signs)))
    differ = wrong != signs
    assert np.all(differ.sum(axis=1) == 1)
    np.testing.assert_array_equal(wrong[differ], -signs[differ])
    counts = differ.sum(axis=0)  # every attribute gets flipped, about equally often
    assert counts.min() > 512 / 5 * 0.6, counts


# ---- training -----------------------------------------------------------------------------


@pytest.mark.backend
def test_train_step_updates_all_three_networks():
    # Seeded: with some initial weights a variable's gradient is so small that Adam moves it
    # less than allclose sees in two steps (the check below is on every variable).
    import keras

    keras.utils.set_random_seed(0)
    model = tiny()
    model.compile()
    nets = (model.generator, model.discriminator, model.encoder)
    before = [[v.numpy().copy() for v in net.trainable_variables] for net in nets]
    history = model.fit(images(32), labels(32), batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == set(model.log_names)
    for name, values in history.history.items():
        assert np.isfinite(values[0]), name
    for name in ("d_real", "d_fake", "d_mismatch"):
        assert 0.0 < history.history[name][0] < 1.0
    for net, old in zip(nets, before):
        changed = [not np.allclose(a, v.numpy()) for a, v in zip(old, net.trainable_variables)]
        assert all(changed), (net.name, changed)
    assert {k: int(o.iterations.numpy()) for k, o in model.optimizer.items()} == {
        "discriminator": 2, "generator": 2, "encoder": 2}


@pytest.mark.backend
def test_fit_on_synthetic_faces_with_attributes_and_options():
    model = tiny(label_smoothing=(0.7, 1.0), mismatch_weight=0.5, reconstruction_weight=0.0)
    model.compile()
    data = synthetic_faces(n=32, image_size=16, batch_size=16, attributes=model.attributes)
    history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])


def test_batches_without_or_with_wrong_attributes_are_rejected():
    model = tiny()
    model.compile()
    with pytest.raises(DataError, match="attributes="):
        model.fit(images(16), batch_size=16, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"\(batch, 3\)"):
        model.fit(images(16), labels(16, k=5), batch_size=16, epochs=1, verbose=0)


def _logits(model, x, signs):
    return _np(model.discriminator([x, ops.convert_to_tensor(signs)], training=False))[:, 0]


@pytest.mark.backend
def test_dense_conditioning_cannot_relate_attributes_to_the_image():
    """Why `conditioning="input"` is the default: with the seed's DCGAN 1 discriminator the
    attributes add the same amount to every image's logit."""
    model = tiny(conditioning="dense")
    x = model.to_model_range(images(8))
    signs = 2 * labels(8) - 1
    wrong = -signs
    same = _logits(model, x, np.tile(signs[:1], (8, 1))) - _logits(model, x, np.tile(wrong[:1], (8, 1)))
    np.testing.assert_allclose(same, same[0], atol=1e-5)  # independent of the image
    with pytest.raises(ValueError, match="conditioning"):
        tiny(conditioning="middle")


# ---- attributes, generation, refinement ---------------------------------------------------


def test_attribute_names_are_validated():
    with pytest.raises(AttributeNameError, match="Eyeglasses.*Young"):
        tiny(attributes=["Male", "Glasses"])
    model = tiny()
    with pytest.raises(AttributeNameError, match="Male, Smiling, Eyeglasses"):
        model.attribute_vector({"Wearing_Hat": 1})
    with pytest.raises(AttributeNameError, match="Male, Smiling, Eyeglasses"):
        model.generate(2, seed=0, attributes={"Bald": 1})
    with pytest.raises(ValueError, match="Smiling"):
        model.attribute_vector({"Smiling": 0.5})
    assert set(DEFAULT_ATTRIBUTES) <= set(__import__("kerasgen.data.synthetic", fromlist=["x"]).ATTRIBUTES)
    assert len(DEFAULT_ATTRIBUTES) == 5


def test_attribute_vector_and_matrix():
    model = tiny()
    np.testing.assert_array_equal(model.attribute_vector({"Eyeglasses": 1, "Male": -1}), [0, 0, 1])
    np.testing.assert_array_equal(
        model.attribute_vector({"Male": 0, "Smiling": True}, base=[1, 0, 1]), [0, 1, 1])
    current = np.array([[1, 0, 0], [0, 1, 1]], "float32")
    np.testing.assert_array_equal(
        model.attribute_matrix({"Eyeglasses": 1}, n=2, current=current), [[1, 0, 1], [0, 1, 1]])
    random = model.attribute_matrix(None, n=2000, seed=4)
    assert set(np.unique(random)) == {0.0, 1.0} and abs(random.mean() - 0.5) < 0.03
    np.testing.assert_array_equal(random, model.attribute_matrix(None, n=2000, seed=4))
    with pytest.raises(ValueError, match="0/1"):
        model.attribute_matrix(np.full((2, 3), -1.0))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        model.attribute_matrix(np.zeros((2, 4)), n=2)


@pytest.mark.backend
def test_generate_is_deterministic_and_follows_the_attributes_given():
    model = tiny()
    a = model.generate(4, seed=5, attributes={"Smiling": 1})
    assert a.shape == (4, 16, 16, 3) and a.dtype == np.float32 and 0 <= a.min() <= a.max() <= 1
    np.testing.assert_array_equal(a, model.generate(4, seed=5, attributes={"Smiling": 1}))
    np.testing.assert_array_equal(
        a, model.generate(latents=model.sample_latents(4, 5), attributes=[0, 1, 0]))
    np.testing.assert_array_equal(
        a, model.generate(seed=5, latents=model.sample_latents(4, 5), attributes=np.tile([0, 1, 0], (4, 1))))
    assert not np.allclose(a, model.generate(4, seed=5, attributes={"Smiling": 0}))
    r = model.generate(4, seed=5)
    np.testing.assert_array_equal(
        r, model.generate(4, seed=5, attributes=model.attribute_matrix(None, n=4, seed=5)))
    call = _np(model([model.sample_latents(4, 5), np.tile([0.0, 1.0, 0.0], (4, 1))]))
    np.testing.assert_allclose(call, a, atol=1e-5)


@pytest.mark.backend
def test_refine_and_reconstruct():
    model = tiny()
    x = images(3)
    own = labels(3)
    rec = model.reconstruct(x, own)
    assert rec.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(rec, model.refine(x / 255.0, own), atol=1e-5)  # float input
    glasses = model.refine(x, {"Eyeglasses": 1}, current=own)
    expected = own.copy()
    expected[:, 2] = 1
    np.testing.assert_array_equal(glasses, model.refine(x, expected))
    np.testing.assert_array_equal(
        glasses, model.generate(latents=model.encode(x), attributes=expected))


@pytest.mark.backend
def test_sample_grid_pairs_each_attribute_off_and_on_for_fixed_latents():
    model = tiny()
    grid = model.sample_grid(16, seed=3)
    assert grid.shape == (16, 16, 16, 3) and model.grid_nrow(16) == 4 and model.grid_nrow(64) == 8
    np.testing.assert_array_equal(grid, model.sample_grid(16, seed=3))
    z = model.sample_latents(2, 3)
    others = model.attribute_matrix(None, n=2, seed=3)
    for row in range(4):
        column = row % 3
        for pair in range(2):
            attrs = np.stack([others[pair]] * 2)
            attrs[:, column] = [0, 1]
            expected = model.generate(latents=np.stack([z[pair]] * 2), attributes=attrs)
            start = row * 4 + 2 * pair
            np.testing.assert_allclose(grid[start:start + 2], expected, atol=1e-6)


# ---- config and saving --------------------------------------------------------------------


def test_get_config_round_trip():
    model = tiny(mismatch_weight=0.5, reconstruction_weight=0.0, label_smoothing=0.1)
    clone = ConditionalGAN.from_config(model.get_config())
    assert clone.attributes == ATTRS and clone.mismatch_weight == 0.5
    assert clone.reconstruction_weight == 0.0 and clone.label_smoothing == (0.9, 0.9)
    with pytest.raises(ValueError, match="mismatch_weight"):
        tiny(mismatch_weight=-1)


@pytest.mark.backend
def test_saved_model_generates_and_refines_the_same_in_a_fresh_process(tmp_path, fresh_python):
    model = tiny()
    model.compile()
    model.fit(images(32), labels(32), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "cgan.keras"
    model.save(path)
    x = images(3, seed=9)
    np.save(tmp_path / "x.npy", x)
    expected_g = model.generate(5, seed=42, attributes={"Eyeglasses": 1})
    expected_r = model.refine(x, {"Smiling": 1}, current=labels(3))
    np.save(tmp_path / "cur.npy", labels(3))
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "g.npy")!r}, model.generate(5, seed=42, attributes={{"Eyeglasses": 1}}))
        x = np.load({str(tmp_path / "x.npy")!r})
        cur = np.load({str(tmp_path / "cur.npy")!r})
        np.save({str(tmp_path / "r.npy")!r}, model.refine(x, {{"Smiling": 1}}, current=cur))
        its = sorted(int(o.iterations.numpy()) for _, o in model.optimizer.items())
        print(type(model).__name__, ",".join(model.attributes), *its)
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-5:] == ["ConditionalGAN", "Male,Smiling,Eyeglasses", "2", "2", "2"]
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), expected_g)
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), expected_r)


# ---- the projection discriminator and conditional batch norm ------------------------------


@pytest.mark.backend
def test_projection_discriminator_is_psi_plus_the_projection_by_hand():
    import keras

    from kerasgen import nets

    d = nets.discriminator(16, 8, condition_dim=3, condition_at="projection")
    rng = np.random.default_rng(0)
    for layer in (d.get_layer("projection"), d.get_layer("logit")):  # away from N(0, 0.02)
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                           for w in layer.get_weights()])
    x = rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    signs = np.sign(rng.normal(size=(4, 3))).astype("float32")
    features = keras.Model(d.inputs, d.get_layer("features").output)
    h = _np(features([x, signs], training=False))
    w, b = d.get_layer("logit").get_weights()
    v = d.get_layer("projection").get_weights()[0]
    expected = h @ w[:, 0] + b[0] + np.sum((signs @ v) * h, axis=1)
    np.testing.assert_allclose(_np(d([x, signs], training=False))[:, 0], expected, rtol=1e-4,
                               atol=1e-5)
    # Flipping attribute 0 moves each logit by 2 v_0 . h: a different amount for each image.
    flipped = signs * np.array([-1.0, 1.0, 1.0], "float32")
    moved = _np(d([x, flipped], training=False))[:, 0] - _np(d([x, signs], training=False))[:, 0]
    np.testing.assert_allclose(moved, -2 * signs[:, 0] * (h @ v[0]), rtol=1e-4, atol=1e-5)
    assert np.std(moved) > 1e-3


@pytest.mark.backend
def test_conditional_batch_norm_by_hand():
    from kerasgen.nets.conv import ConditionalBatchNormalization

    layer = ConditionalBatchNormalization(epsilon=1e-5)
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (6, 4, 4, 5)).astype("float32")
    c = np.sign(rng.normal(size=(6, 2))).astype("float32")
    layer.build(((None, 4, 4, 5), (None, 2)))
    layer.gamma.set_weights([rng.normal(0, 0.3, (2, 5)).astype("float32"), np.zeros(5, "float32")])
    layer.beta.set_weights([rng.normal(0, 0.3, (2, 5)).astype("float32"),
                            rng.normal(0, 0.3, 5).astype("float32")])
    out = _np(layer([x, c], training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    gamma = c @ layer.gamma.get_weights()[0] + layer.gamma.get_weights()[1]
    beta = c @ layer.beta.get_weights()[0] + layer.beta.get_weights()[1]
    expected = ((x - mean) / np.sqrt(var + 1e-5)) * (1 + gamma)[:, None, None, :] \
        + beta[:, None, None, :]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.backend
def test_projection_conditioning_trains_saves_and_refines(tmp_path):
    import keras

    model = tiny(conditioning="projection")
    assert any("conditional_batch" in type(l).__name__.lower() or "ConditionalBatch" in
               type(l).__name__ for l in model.generator.layers)
    model.compile()
    before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    history = model.fit(images(32), labels(32), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])
    assert all(not np.allclose(a, v.numpy())
               for a, v in zip(before, model.discriminator.trainable_variables))
    model.save(tmp_path / "p.keras")
    loaded = keras.models.load_model(tmp_path / "p.keras")
    assert loaded.conditioning == "projection"
    np.testing.assert_array_equal(loaded.generate(4, seed=1), model.generate(4, seed=1))
    refined = loaded.refine(images(2), {"Smiling": 1}, current=labels(2))
    assert refined.shape == (2, 16, 16, 3)
