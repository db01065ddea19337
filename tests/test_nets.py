"""`kerasgen.nets`: the stacks' shapes and kerasgen's transposed convolution layer."""

import numpy as np
import pytest
import keras

from kerasgen import nets
from kerasgen.nets.conv import Conv2D, Conv2DTranspose


CONV_CASES = [("same", 2, False), ("same", 2, True), ("valid", 2, True), ("same", 1, True),
              ("valid", 3, False), ("valid", 5, True)]


@pytest.mark.backend
@pytest.mark.parametrize("ours_class, keras_class, size", [
    (Conv2DTranspose, "Conv2DTranspose", (6, 7)), (Conv2D, "Conv2D", (9, 8))])
@pytest.mark.parametrize("padding,strides,use_bias", CONV_CASES)
def test_conv_layers_equal_keras_layers(ours_class, keras_class, size, padding, strides, use_bias):
    """kerasgen's Conv2D / Conv2DTranspose (their own backend convolutions on JAX and PyTorch)
    compute what Keras' layers compute, for the DCGAN case and the cases they hand to Keras."""
    kwargs = dict(filters=5, kernel_size=4, strides=strides, padding=padding, use_bias=use_bias,
                  bias_initializer="random_normal")
    ours, theirs = ours_class(**kwargs), getattr(keras.layers, keras_class)(**kwargs)
    x = np.random.default_rng(0).standard_normal((2, *size, 3)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    expected = keras.ops.convert_to_numpy(theirs(x))
    actual = keras.ops.convert_to_numpy(ours(x))
    assert actual.shape == expected.shape == (2, *ours.compute_output_shape(x.shape)[1:3], 5)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.backend
def test_grouped_conv_with_bias_equals_keras_layer():
    """Grouped convolutions are Keras' op, with kerasgen's bias added after it."""
    kwargs = dict(filters=6, kernel_size=3, padding="same", groups=2,
                  bias_initializer="random_normal")
    ours, theirs = Conv2D(**kwargs), keras.layers.Conv2D(**kwargs)
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 4)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)),
                               keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.backend
def test_discriminator_uses_kerasgen_conv_and_reloads(tmp_path):
    critic = nets.discriminator(image_size=16, width=8, norm="layer")
    assert sum(type(layer) is Conv2D for layer in critic.layers) == 2
    x = np.random.default_rng(2).uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    critic.save(tmp_path / "d.keras")
    reloaded = keras.models.load_model(tmp_path / "d.keras")
    assert type(reloaded.get_layer("down0_conv")) is Conv2D
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), critic.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.backend
def test_generator_uses_it_and_reloads(tmp_path):
    generator = nets.generator(latent_dim=8, image_size=16, width=8)
    assert sum(isinstance(layer, Conv2DTranspose) for layer in generator.layers) == 2
    z = np.random.default_rng(1).standard_normal((3, 8)).astype("float32")
    generator.save(tmp_path / "g.keras")
    reloaded = keras.models.load_model(tmp_path / "g.keras")
    assert type(reloaded.get_layer("up_out")) is Conv2DTranspose
    np.testing.assert_allclose(reloaded.predict(z, verbose=0), generator.predict(z, verbose=0),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("image_size,blocks", [(16, 2), (32, 3), (64, 4), (128, 5), (256, 6)])
def test_stack_depth_follows_image_size(image_size, blocks):
    assert nets.conv.num_blocks(image_size) == blocks
    generator = nets.generator(latent_dim=4, image_size=image_size, width=8)
    discriminator = nets.discriminator(image_size=image_size, width=8)
    assert generator.output_shape == (None, image_size, image_size, 3)
    assert discriminator.input_shape == (None, image_size, image_size, 3)
    assert discriminator.output_shape == (None, 1)


@pytest.mark.backend
@pytest.mark.parametrize("shape", [(4, 5, 6, 3), (8, 7)])
def test_batch_norm_layer_equals_keras_layer_in_training(shape):
    """kerasgen's BatchNormalization (PyTorch: one fused kernel) against Keras' layer: the
    outputs, the gradients of a loss through it and the moving statistics after two steps."""
    from kerasgen.nets.conv import BatchNormalization

    kwargs = dict(momentum=0.9, epsilon=1e-5, gamma_initializer="random_normal",
                  beta_initializer="random_normal")
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3 + 2).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    weights = rng.standard_normal(shape).astype("float32")
    results = []
    for layer in (ours, theirs):
        outputs = [keras.ops.convert_to_numpy(layer(x * (i + 1), training=True)) for i in range(2)]
        grads = _input_and_weight_gradients(layer, x, weights, training=True)
        results.append((outputs, grads, [np.asarray(w) for w in layer.get_weights()]))
    (o1, g1, w1), (o2, g2, w2) = results
    for a, b in zip(o1 + g1 + w1, o2 + g2 + w2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # The moving mean moved towards the batch means (2 and 4 per channel): not left at 0.
    assert np.all(np.abs(w1[2]) > 0.1)
    # Inference uses the moving statistics in both.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(theirs(x, training=False)),
                               rtol=1e-5, atol=1e-5)


def _input_and_weight_gradients(layer, x, weights, **call_kwargs):
    """d sum(layer(x, **call_kwargs) * weights) / d(x, gamma, beta), through the backend's
    autodiff, leaving the layer's non-trainable variables (moving statistics) as they were."""
    backend = keras.backend.backend()
    gamma, beta = (keras.ops.convert_to_numpy(v) for v in (layer.gamma, layer.beta))
    kept = [np.asarray(v) for v in layer.non_trainable_variables]

    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(x), layer.gamma, layer.beta]
        with tf.GradientTape() as tape:
            tape.watch(xs[0])
            y = tf.reduce_sum(layer(xs[0], **call_kwargs) * weights)
        grads = [np.asarray(g) for g in tape.gradient(y, xs)]
    elif backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        y = (layer(xt, **call_kwargs) * torch.tensor(weights)).sum()
        grads = [g.numpy() for g in torch.autograd.grad(y, [xt, layer.gamma.value,
                                                            layer.beta.value])]
    else:
        import jax

        def f(x, g, b):
            non_trainable = [v.value for v in layer.non_trainable_variables]
            y, _ = layer.stateless_call([g, b], non_trainable, x, **call_kwargs)
            return (y * weights).sum()

        grads = [np.asarray(g) for g in jax.grad(f, argnums=(0, 1, 2))(x, gamma, beta)]
    for variable, value in zip(layer.non_trainable_variables, kept):
        variable.assign(value)
    return grads


@pytest.mark.backend
@pytest.mark.parametrize("shape,groups", [((2, 6, 5, 8), 4), ((3, 4, 4, 6), 6), ((2, 3, 9), 3)])
def test_group_normalization_equals_keras_forward_and_backward(shape, groups):
    """kerasgen's GroupNormalization (PyTorch's fused kernel on the channels-last memory)
    computes Keras' outputs and the same gradients for the input, gamma and beta."""
    from kerasgen import backend
    from kerasgen.nets.conv import GroupNormalization

    # The fused kernel is PyTorch's; elsewhere the layer is Keras' own.
    assert (backend.fused_group_norm is not None) == (backend.BACKEND == "torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype("float32") * 3 + 1
    ours = GroupNormalization(groups, epsilon=1e-6)
    theirs = keras.layers.GroupNormalization(groups, epsilon=1e-6)
    ours.build(shape)
    theirs.build(shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    upstream = rng.standard_normal(shape).astype("float32")  # a loss that weighs every output
    results = []
    for layer in (ours, theirs):
        results.append((keras.ops.convert_to_numpy(layer(x)),
                        _input_and_weight_gradients(layer, x, upstream)))
    (y1, g1), (y2, g2) = results
    np.testing.assert_allclose(y1, y2, rtol=1e-4, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
