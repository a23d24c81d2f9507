"""Errors raised for user mistakes.

Every problem a user can cause (bad model file, corrupt bundle, a model that
does not fit the memories, bad input vectors) raises :class:`EieError` with a
one-line message naming the file, layer, PE or value at fault.  The command
line prints that line and exits with a non-zero status; it never shows a
traceback for an :class:`EieError`.
"""

__all__ = ["EieError", "BundleError", "CapacityError", "InputError", "ModelError",
           "SaturationError", "EieWarning", "SaturationWarning", "AccuracyWarning"]


class EieError(Exception):
    """A problem with the user's input; the message is one line for the user."""


class ModelError(EieError):
    """The float model (weights, biases, options) cannot be compiled."""


class BundleError(EieError):
    """A bundle on disk is missing, corrupt or inconsistent."""


class CapacityError(EieError):
    """A model does not fit the configured hardware memories."""


class InputError(EieError):
    """Input activations have the wrong shape or invalid values."""


class SaturationError(InputError):
    """More values saturate than allowed, with ``strict`` (``--strict``) set."""


class EieWarning(UserWarning):
    """Something the user should know; the command line prints it as one line."""


class SaturationWarning(EieWarning):
    """More values saturate at a point of the model than the threshold allows."""


class AccuracyWarning(EieWarning):
    """Compression cost more accuracy than :data:`eie.gen.evaluate.ACCURACY_DROP_WARNING`."""
