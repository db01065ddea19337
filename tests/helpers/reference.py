"""The reference implementations kerasgen's metrics are tested against: torch-fidelity's
modules (loaded without its package `__init__`) and a random state dict of the FID Inception."""

import importlib
import importlib.util
import sys
import types

import numpy as np

from kerasgen.nets import inception


def torch_fidelity(module):
    """`torch_fidelity.<module>` without running `torch_fidelity/__init__.py`: that imports all
    of torch-fidelity and, through it, torchvision, whose PyPI wheel does not work with the CPU
    torch the project pins. An empty package object pointing at the installed folder stands in
    for it; `metric_fid` imports `torch_fidelity.utils` only for its data loaders (torchvision
    again; `metric_isc` likewise), so a placeholder stands in for that module while they are
    imported."""
    if "torch_fidelity" not in sys.modules:
        spec = importlib.util.find_spec("torch_fidelity")
        assert spec is not None, "torch-fidelity is a test dependency: pip install -e .[test]"
        package = types.ModuleType("torch_fidelity")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["torch_fidelity"] = package
    name = f"torch_fidelity.{module}"
    if (module in ("metric_fid", "metric_isc") and name not in sys.modules
            and "torch_fidelity.utils" not in sys.modules):
        utils = types.ModuleType("torch_fidelity.utils")
        for attr in ("get_cacheable_input_name", "cache_lookup_one_recompute_on_miss",
                     "extract_featuresdict_from_input_id_cached", "create_feature_extractor"):
            setattr(utils, attr, None)
        sys.modules["torch_fidelity.utils"] = utils
        try:
            return importlib.import_module(name)
        finally:
            del sys.modules["torch_fidelity.utils"]
    return importlib.import_module(name)


def random_state_dict(seed=0):
    """A state dict of the FID Inception (PyTorch keys and layouts) with random weights at
    realistic scales: He-normal kernels, batch norm statistics and affine terms near what
    training leaves, a 1/sqrt(2048) classifier, plus the keys the real files carry and
    kerasgen does not use (the classifier's bias, `num_batches_tracked`)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in inception.torch_weight_shapes(inception.fid_inception_v3()).items():
        if key.endswith("conv.weight"):
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        elif key.endswith("bn.weight"):
            value = rng.uniform(0.5, 1.5, shape)
        elif key.endswith(("bn.bias", "bn.running_mean")):
            value = rng.normal(0.0, 0.2, shape)
        elif key.endswith("bn.running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            assert key == "fc.weight", key
            value = rng.normal(0.0, 1.0 / np.sqrt(2048), shape)
        state[key] = value.astype("float32")
    state["fc.bias"] = rng.normal(0.0, 0.1, 1008).astype("float32")
    return state
