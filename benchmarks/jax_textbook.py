"""Textbook JAX training steps for every kerasgen model: the model's own Keras networks (so the
layers and sizes are identical to the `fit` row) trained by one `jax.jit` step written as the
Keras guide "Writing a training loop from scratch in JAX" writes it: `stateless_call` per
network, `jax.value_and_grad` per phase, the Keras optimizer's `stateless_apply`, the state
threaded through the step. Same losses, optimizers and updates per step as the TensorFlow
textbook loops in `benchmarks/models.py`. `benchmarks/models.py` times them against kerasgen's
`fit` on the JAX backend.
"""

import jax
import jax.numpy as jnp
import keras

NETWORKS = {
    "dcgan": {"g": "generator", "d": "discriminator"},
    "wgan-gp": {"g": "generator", "c": "critic"},
    "ae": {"e": "encoder", "dec": "decoder"},
    "vae": {"e": "encoder", "dec": "decoder"},
    "vaegan": {"e": "encoder", "dec": "decoder", "d": "discriminator"},
    "cgan": {"g": "generator", "d": "discriminator", "e": "encoder"},
    "sngan": {"g": "generator", "d": "discriminator"},
    "diffusion": {"u": "unet"},
}


def _bce_ones(logits):  # BCE(sigmoid(logits), 1) from logits, batch mean
    return jnp.mean(jax.nn.softplus(-logits))


def _bce_zeros(logits):
    return jnp.mean(jax.nn.softplus(logits))


def make_step(name, model, batch_size):
    """`step(batch) -> losses` for model `name`, with its state kept between calls."""
    nets = {key: getattr(model, attr) for key, attr in NETWORKS[name].items()}

    def adam(**kwargs):
        return keras.optimizers.Adam(**kwargs)

    if name == "wgan-gp":
        optimizers = {k: adam(learning_rate=1e-4, beta_1=0.0, beta_2=0.9) for k in nets}
        groups = {"g": ("g",), "c": ("c",)}
    elif name == "sngan":
        optimizers = {k: adam(learning_rate=2e-4, beta_1=0.0, beta_2=0.9) for k in nets}
        groups = {k: (k,) for k in nets}
    elif name == "diffusion":
        optimizers = {"u": adam(learning_rate=2e-4, global_clipnorm=1.0)}
        groups = {"u": ("u",)}
    elif name in ("ae", "vae"):
        optimizers = {"ae": adam(learning_rate=1e-3)}
        groups = {"ae": ("e", "dec")}
    else:
        optimizers = {k: adam(learning_rate=2e-4, beta_1=0.5) for k in nets}
        groups = {k: (k,) for k in nets}
    for key, optimizer in optimizers.items():
        optimizer.build([v for n in groups[key] for v in nets[n].trainable_variables])

    def apply(state, net, x, training=True):
        trainable, non_trainable = state[net]
        y, non_trainable = nets[net].stateless_call(trainable, non_trainable, x,
                                                    training=training)
        return y, {**state, net: (trainable, non_trainable)}

    def update(state, opt, group, loss_fn):
        """One phase: the gradient of `loss_fn(state) -> (loss, state)` with respect to the
        trainable values of the group's networks, applied by its optimizer."""
        members = groups[group]

        def f(trainables, state):
            state = {**state, **{n: (t, state[n][1]) for n, t in zip(members, trainables)}}
            return loss_fn(state)

        trainables = tuple(state[n][0] for n in members)
        (loss, state), grads = jax.value_and_grad(f, has_aux=True)(trainables, state)
        flat = [g for gs in grads for g in gs]
        new, opt_group = optimizers[group].stateless_apply(
            opt[group], flat, [t for ts in trainables for t in ts])
        out, i = {}, 0
        for n, ts in zip(members, trainables):
            out[n] = (new[i:i + len(ts)], state[n][1])
            i += len(ts)
        return loss, {**state, **out}, {**opt, group: opt_group}

    latent = model.latent_dim

    def to_range(images):
        return images.astype("float32") / 127.5 - 1.0

    if name == "dcgan":
        def step(state, opt, images, key):
            k1, k2 = jax.random.split(key)
            real = to_range(images)
            fake, state = apply(state, "g", jax.random.normal(k1, (batch_size, latent)))
            fake = jax.lax.stop_gradient(fake)

            def d_loss(s):
                r, s = apply(s, "d", real)
                f, s = apply(s, "d", fake)
                return _bce_ones(r) + _bce_zeros(f), s

            def g_loss(s):
                f, s = apply(s, "g", jax.random.normal(k2, (batch_size, latent)))
                logits, s = apply(s, "d", f)
                return _bce_ones(logits), s

            dl, state, opt = update(state, opt, "d", d_loss)
            gl, state, opt = update(state, opt, "g", g_loss)
            return state, opt, (dl, gl)

    elif name == "wgan-gp":
        def step(state, opt, images, key):
            real = to_range(images)
            keys = jax.random.split(key, 2 * model.n_critic + 1)
            for i in range(model.n_critic):
                fake, state = apply(state, "g", jax.random.normal(keys[2 * i],
                                                                  (batch_size, latent)))
                fake = jax.lax.stop_gradient(fake)
                alpha = jax.random.uniform(keys[2 * i + 1], (batch_size, 1, 1, 1))

                def c_loss(s, fake=fake, alpha=alpha):
                    fs, s = apply(s, "c", fake)
                    rs, s = apply(s, "c", real)
                    inter = real + alpha * (fake - real)
                    grads = jax.grad(lambda x: jnp.sum(apply(s, "c", x)[0]))(inter)
                    norm = jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3)) + 1e-12)
                    gp = jnp.mean((norm - 1.0) ** 2)
                    return jnp.mean(fs) - jnp.mean(rs) + model.gp_weight * gp, s

                cl, state, opt = update(state, opt, "c", c_loss)

            def g_loss(s):
                f, s = apply(s, "g", jax.random.normal(keys[-1], (batch_size, latent)))
                scores, s = apply(s, "c", f)
                return -jnp.mean(scores), s

            gl, state, opt = update(state, opt, "g", g_loss)
            return state, opt, (cl, gl)

    elif name in ("ae", "vae"):
        variational = name == "vae"

        def step(state, opt, images, key):
            data = images.astype("float32") / 255.0

            def loss(s):
                out, s = apply(s, "e", data)
                if variational:
                    mean, log_var = out
                    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
                else:
                    z = out
                rec, s = apply(s, "dec", z)
                value = jnp.mean(jnp.sum((data - rec) ** 2, axis=(1, 2, 3)))
                if variational:
                    kl = -0.5 * (1 + log_var - mean**2 - jnp.exp(log_var))
                    value += model.kld_weight * jnp.mean(jnp.sum(kl, axis=1))
                return value, s

            value, state, opt = update(state, opt, "ae", loss)
            return state, opt, (value,)

    elif name == "vaegan":
        def step(state, opt, images, key):
            data = images.astype("float32") / 255.0
            keys = jax.random.split(key, 6)

            def vae_pass(s, k):
                (mean, log_var), s = apply(s, "e", data)
                z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(k, mean.shape)
                rec, s = apply(s, "dec", z)
                error = jnp.mean(jnp.sum((data - rec) ** 2, axis=(1, 2, 3)))
                kl = -0.5 * (1 + log_var - mean**2 - jnp.exp(log_var))
                return rec, error, jnp.mean(jnp.sum(kl, axis=1)), s

            def prior(s, k):
                return apply(s, "dec", jax.random.normal(k, (batch_size, latent)))

            def d_loss(s):
                rec, _, _, s = vae_pass(s, keys[0])
                fake, s = prior(s, keys[1])
                real_logits, s = apply(s, "d", data)
                rec_logits, s = apply(s, "d", jax.lax.stop_gradient(rec))
                fake_logits, s = apply(s, "d", jax.lax.stop_gradient(fake))
                return (_bce_ones(real_logits) + _bce_zeros(rec_logits)
                        + _bce_zeros(fake_logits)), s

            def e_loss(s):
                _, error, kl, s = vae_pass(s, keys[2])
                return model.kld_weight * kl + error, s

            def dec_loss(s):
                rec, error, _, s = vae_pass(s, keys[3])
                fake, s = prior(s, keys[4])
                rec_logits, s = apply(s, "d", rec)
                fake_logits, s = apply(s, "d", fake)
                return (model.reconstruction_weight * error + model.gan_weight
                        * (_bce_ones(rec_logits) + _bce_ones(fake_logits))), s

            dl, state, opt = update(state, opt, "d", d_loss)
            el, state, opt = update(state, opt, "e", e_loss)
            decl, state, opt = update(state, opt, "dec", dec_loss)
            return state, opt, (dl, el, decl)

    elif name == "cgan":
        k = model.num_attributes

        def step(state, opt, batch, key):
            images, labels = batch
            real, signs = to_range(images), labels.astype("float32") * 2.0 - 1.0
            k1, k2, k3 = jax.random.split(key, 3)
            fake, state = apply(state, "g", [jax.random.normal(k1, (batch_size, latent)), signs])
            fake = jax.lax.stop_gradient(fake)
            flip = jax.nn.one_hot(jax.random.randint(k2, (batch_size,), 0, k), k)
            wrong = signs * (1.0 - 2.0 * flip)

            def d_loss(s):
                r, s = apply(s, "d", [real, signs])
                f, s = apply(s, "d", [fake, signs])
                w, s = apply(s, "d", [real, wrong])
                return _bce_ones(r) + _bce_zeros(f) + model.mismatch_weight * _bce_zeros(w), s

            def g_loss(s):
                f, s = apply(s, "g", [jax.random.normal(k3, (batch_size, latent)), signs])
                logits, s = apply(s, "d", [f, signs])
                code, s = apply(s, "e", real)
                redrawn, s = apply(s, "g", [jax.lax.stop_gradient(code), signs])
                return (_bce_ones(logits) + model.reconstruction_weight
                        * jnp.mean(((redrawn - real) / 2.0) ** 2)), s

            def e_loss(s):
                code, s = apply(s, "e", real)
                redrawn, _ = apply(s, "g", [code, signs], training=False)
                return jnp.mean(((redrawn - real) / 2.0) ** 2), s

            dl, state, opt = update(state, opt, "d", d_loss)
            gl, state, opt = update(state, opt, "g", g_loss)
            el, state, opt = update(state, opt, "e", e_loss)
            return state, opt, (dl, gl, el)

    elif name == "sngan":
        def step(state, opt, images, key):
            real = to_range(images)
            keys = jax.random.split(key, model.n_dis + 1)
            for k in keys[:-1]:
                fake, state = apply(state, "g", jax.random.normal(k, (batch_size, latent)))
                fake = jax.lax.stop_gradient(fake)

                def d_loss(s, fake=fake):
                    r, s = apply(s, "d", real)
                    f, s = apply(s, "d", fake)
                    return jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f)), s

                dl, state, opt = update(state, opt, "d", d_loss)

            def g_loss(s):
                f, s = apply(s, "g", jax.random.normal(keys[-1], (batch_size, latent)))
                logits, s = apply(s, "d", f)
                return -jnp.mean(logits), s

            gl, state, opt = update(state, opt, "g", g_loss)
            return state, opt, (dl, gl)

    elif name == "diffusion":
        alpha_bar = jnp.asarray(model.alpha_bar, "float32")

        def step(state, opt, images, key):
            x0 = to_range(images)
            k1, k2 = jax.random.split(key)
            t = jax.random.randint(k1, (batch_size,), 0, model.timesteps)
            noise = jax.random.normal(k2, x0.shape)
            a = alpha_bar[t].reshape(-1, 1, 1, 1)
            xt = jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * noise

            def loss(s):
                predicted, s = apply(s, "u", [xt, t[:, None].astype("float32")])
                return jnp.mean((noise - predicted) ** 2), s

            value, state, opt = update(state, opt, "u", loss)
            return state, opt, (value,)

    else:
        raise ValueError(f"no JAX textbook step for {name!r}")

    values = lambda variables: [v.value for v in variables]
    holder = {
        "state": {n: (values(net.trainable_variables), values(net.non_trainable_variables))
                  for n, net in nets.items()},
        "opt": {g: values(o.variables) for g, o in optimizers.items()},
        "key": jax.random.PRNGKey(0),
    }
    jitted = jax.jit(step)

    def run(batch):
        holder["key"], key = jax.random.split(holder["key"])
        holder["state"], holder["opt"], losses = jitted(holder["state"], holder["opt"], batch,
                                                        key)
        return losses

    return run
