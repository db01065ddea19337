"""`Network`: the functional Keras model every kerasgen network is."""

import keras

from kerasgen import backend


@keras.saving.register_keras_serializable(package="kerasgen")
class Network(keras.Model):
    """A functional Keras model, `Network(inputs, outputs, name=...)`, as `keras.Model` builds
    it, that the backend may run faster when called eagerly.

    Called eagerly on PyTorch, Keras' `Model` walks the graph and calls each layer through
    `Layer.__call__` (input conversion, autocasting, name scopes, call contexts, masks): Python
    work that can exceed the layer's own at small sizes, paid every training step by every
    layer (docs/performance.md measures it). `kerasgen.backend.run_graph` walks the same graph calling each plain
    layer's `call` directly where that computes what Keras' call would (float32 layers without
    sub-layers, regularisers or masks; tensors of the declared dtypes); every other layer, and
    every other case (symbolic inputs, mixed precision, masks), goes through Keras. A call
    with an explicit `training=` (as every train step makes) skips the network's own
    `Layer.__call__` as well.
    TensorFlow and JAX trace the step once, so they always take Keras' path."""

    def __call__(self, *args, **kwargs):
        # Keras' `Layer.__call__` on the network itself is skipped too when the call says
        # everything it would resolve: one input and an explicit `training`.
        if len(args) == 1 and kwargs.keys() == {"training"} and kwargs["training"] is not None:
            outputs = backend.run_graph(self, args[0], kwargs["training"])
            if outputs is not None:
                return outputs
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None, mask=None, **kwargs):
        if mask is None and not kwargs:
            outputs = backend.run_graph(self, inputs, training)
            if outputs is not None:
                return outputs
        return super().call(inputs, training=training, mask=mask, **kwargs)
