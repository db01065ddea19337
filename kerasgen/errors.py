"""Errors kerasgen raises for bad input: each names the file or value that is wrong."""


class KerasgenError(Exception):
    """Base class of kerasgen's own errors; the CLI prints these as one line."""


class DataError(KerasgenError, ValueError):
    """A data set, file or image that cannot be used (missing, corrupt, wrong shape)."""


class AttributeNameError(KerasgenError, KeyError):
    """An attribute name that the data set does not have."""

    def __str__(self):  # KeyError quotes its message; keep it a plain sentence.
        return str(self.args[0]) if self.args else ""


class TrainingDivergedError(KerasgenError, RuntimeError):
    """A loss became NaN or infinite during training."""


class OptionError(DataError):
    """An argument or command-line option out of range or of the wrong kind (a `DataError`
    too, as the data functions raised for their arguments before `kerasgen.checks`)."""


class RunError(KerasgenError):
    """A run folder that cannot be used as asked (a different configuration, a damaged state)."""
