"""`kerasgen.nets`: the stacks' shapes and kerasgen's transposed convolution layer."""

import numpy as np
import pytest
import keras

from kerasgen import nets
from kerasgen.nets.conv import Conv2DTranspose


@pytest.mark.backend
@pytest.mark.parametrize("padding,strides,use_bias", [("same", 2, False), ("same", 2, True),
                                                      ("valid", 2, True), ("same", 1, True),
                                                      ("valid", 3, False), ("valid", 5, True)])
def test_conv_transpose_layer_equals_keras_layer(padding, strides, use_bias):
    kwargs = dict(filters=5, kernel_size=4, strides=strides, padding=padding, use_bias=use_bias,
                  bias_initializer="random_normal")
    ours, theirs = Conv2DTranspose(**kwargs), keras.layers.Conv2DTranspose(**kwargs)
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 3)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    expected = keras.ops.convert_to_numpy(theirs(x))
    actual = keras.ops.convert_to_numpy(ours(x))
    assert actual.shape == expected.shape == (2, *ours.compute_output_shape(x.shape)[1:3], 5)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


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
