"""Train steps for the PyTorch backend: `torch.autograd.grad` per phase.

`autograd.grad` with respect to the phase's own variables only (instead of `loss.backward()`
over every parameter) skips the backward pass through networks the phase does not train, e.g.
the generator while the discriminator learns, and needs no `zero_grad`.
"""

import torch



def default_jit_compile():
    """Never: `torch.compile` recompiled every step and did not help on CPU."""
    return False


def accelerators():
    """The CUDA devices PyTorch sees, as `"cuda:i (name)"`."""
    return [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
            for i in range(torch.cuda.device_count())]


def num_replicas():
    """1: data parallelism here is one program over sharded arrays (JAX's
    `keras.distribution.DataParallel`) or none, so each step sees the global batch."""
    return 1


def replica_id():
    return 0


def train_step(model, data):
    batch = model.prepare_batch(data)
    logs = {}
    for phase in model.train_phases():
        variables = phase.variables
        optimizer = model.optimizer[phase.optimizer]
        loss, phase_logs = phase.loss(batch)
        scaled_loss = optimizer.scale_loss(loss)
        grads = torch.autograd.grad(
            scaled_loss, [v.value for v in variables], allow_unused=True
        )
        with torch.no_grad():
            optimizer.apply(list(grads), variables)
        logs.update({k: v.detach() for k, v in phase_logs.items()})
    with torch.no_grad():
        return model.update_trackers(logs)


def test_step(model, data):  # Keras runs it under torch.no_grad()
    return model.update_trackers(model.evaluation_logs(model.prepare_batch(data)))


def input_gradients(fn, x):
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    y = fn(x).sum()
    (grad,) = torch.autograd.grad(y, x, create_graph=True)
    return grad
