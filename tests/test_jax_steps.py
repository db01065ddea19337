"""The JAX backend's train function on a CPU: Keras' step without buffer donation (XLA:CPU
runs a donated DCGAN step slower, docs/performance.md), with the same numbers as the donated
step Keras builds."""

import numpy as np
import pytest
import keras

import kerasgen

# The JAX backend's own code: runs in the jax pass of the suite, deselected in the others.
pytestmark = [pytest.mark.backend, pytest.mark.only_backend("jax")]

if keras.backend.backend() == "jax":
    import jax
    import jax.numpy as jnp


def _model_and_batch():
    model = kerasgen.DCGAN(latent_dim=8, image_size=16, width=8, seed=0)
    model.compile()
    x = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype="uint8")
    model.fit(x, epochs=1, batch_size=16, verbose=0)  # builds the train function and state
    return model, jnp.asarray(x)


def _state(model):
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
            [v.value for v in model.metrics_variables])


def test_fit_on_a_cpu_keeps_the_states_buffers_and_computes_the_donated_steps_numbers():
    assert not kerasgen.backend.accelerators()  # the suite runs on CPUs
    model, x = _model_and_batch()
    state = _state(model)
    _, ours = model.train_function(state, iter([(x,)]))
    assert not any(a.is_deleted() for group in state for a in group)
    # Keras' own step donates: the same call consumes the state it is given (so the check above
    # can fail), and computes the same new state.
    donated = jax.jit(model.train_step, donate_argnums=0)
    state_copy = jax.tree_util.tree_map(jnp.copy, state)
    _, keras_state = donated(state_copy, (x,))
    assert all(a.is_deleted() for group in state_copy for a in group if a.size)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(keras_state)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
