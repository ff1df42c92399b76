"""User-facing errors. The CLI prints each as one line on stderr and exits with code 2."""


class EdgefuseError(Exception):
    """Base of every error caused by the user's input, files, hardware or environment."""


class ContractError(EdgefuseError):
    """A model file lacks a readable edgefuse contract, or its schema version is unsupported."""


class ModelFileError(EdgefuseError):
    """A model file cannot be read or loaded."""


class InputError(EdgefuseError):
    """An image, audio clip or text cannot be turned into model input."""


class ManifestError(EdgefuseError):
    """A data set folder or manifest has problems; the message lists every one."""


class MissingDependencyError(EdgefuseError):
    """An optional Python module is not installed; the message names the extra."""
