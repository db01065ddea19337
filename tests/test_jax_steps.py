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


def test_the_train_function_keeps_the_states_buffers_on_a_cpu_with_the_donated_steps_numbers():
    model = kerasgen.DCGAN(latent_dim=8, image_size=16, width=8, seed=0)
    model.compile()
    images = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype="uint8")
    model.fit(images, epochs=1, batch_size=16, verbose=0)  # builds the train function and state
    x = jnp.asarray(images)
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])
    copy = jax.tree_util.tree_map(jnp.copy, state)  # for Keras' donating step below
    _, ours = model.train_function(state, iter([(x,)]))
    # On a CPU the step leaves its input state alone; with an accelerator it is Keras' own,
    # which donates (consumes) it.
    on_cpu = not kerasgen.backend.accelerators()
    assert all(a.is_deleted() != on_cpu for group in state for a in group if a.size)
    # Keras' donating step on the copy: the copy is consumed (so the check above can tell the
    # two apart), and the new state is the same.
    _, keras_state = jax.jit(model.train_step, donate_argnums=0)(copy, (x,))
    assert all(a.is_deleted() for group in copy for a in group if a.size)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(keras_state)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
