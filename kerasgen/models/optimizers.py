"""`OptimizerGroup`: several named optimizers compiled into one model.

A GAN has two optimizers; Keras' `compile` takes one, and its JAX trainer threads exactly
`model.optimizer.variables` through the jitted step. The group is that one optimizer: its
`variables` lists every member's variables, each member is built on the variables of the
networks it trains, and the train step applies each member by name (`model.optimizer["generator"]`).
"""

import keras
from keras.saving import deserialize_keras_object
from keras.saving import serialize_keras_object


@keras.saving.register_keras_serializable(package="kerasgen")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Named optimizers that behave as one for `compile`, saving and the JAX trainer.

    Args:
        optimizers: dict of name -> `keras.optimizers.Optimizer` (or anything
            `keras.optimizers.get` accepts). The first one is the *primary* optimizer:
            its `iterations` are the group's (one update per train step).
    """

    def __init__(self, optimizers, name="optimizer_group", **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer.")
        self._members = {k: keras.optimizers.get(v) for k, v in optimizers.items()}
        for key, opt in self._members.items():
            if any(opt is other for k, other in self._members.items() if k != key):
                raise ValueError(
                    f"The optimizer given for {key!r} is also given for another network; "
                    "each network needs its own optimizer instance (they keep per-variable state)."
                )
            # An attribute per member names its state in checkpoints: optimizer/generator_optimizer/...
            setattr(self, f"{key}_optimizer", opt)

    def __getitem__(self, name):
        try:
            return self._members[name]
        except KeyError:
            raise KeyError(
                f"No optimizer named {name!r}; this model has {list(self._members)}."
            ) from None

    def __iter__(self):
        return iter(self._members)

    def items(self):
        return self._members.items()

    def build_members(self, variables_by_name):
        """Builds each member on the variables it will update (dict name -> list)."""
        for name, variables in variables_by_name.items():
            opt = self[name]
            if not opt.built:
                opt.build(variables)
        self.built = True

    def build(self, var_list):
        # Keras calls build(model.trainable_variables) when it finds an unbuilt optimizer; the
        # split by network is the model's knowledge, so the model builds the group at compile.
        if not self.built:
            raise RuntimeError(
                "OptimizerGroup is built by its model at compile(); compile the model first."
            )

    @property
    def variables(self):
        return [v for opt in self._members.values() for v in opt.variables]

    @property
    def iterations(self):
        return next(iter(self._members.values())).iterations

    @property
    def learning_rate(self):
        return next(iter(self._members.values())).learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError(
            "A model with several optimizers has one learning rate per optimizer: set "
            f"model.optimizer[name].learning_rate with name in {list(self._members)}."
        )

    def apply(self, grads, trainable_variables=None):
        raise RuntimeError(
            "An OptimizerGroup is applied member by member: model.optimizer[name].apply(...)."
        )

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        raise RuntimeError(
            "An OptimizerGroup is applied member by member: "
            "model.optimizer[name].stateless_apply(...)."
        )

    def finalize_variable_values(self, var_list):
        for opt in self._members.values():
            opt.finalize_variable_values(opt._trainable_variables)

    # The members save their own variables (they are attributes of the group), so the group
    # saves none of its own: no duplicate copies in `.keras` files and weight checkpoints.
    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass

    def get_config(self):
        return {
            "name": self.name,
            "optimizers": {k: serialize_keras_object(v) for k, v in self._members.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizers = {
            k: deserialize_keras_object(v, custom_objects=custom_objects)
            for k, v in config.pop("optimizers").items()
        }
        return cls(optimizers, **config)
