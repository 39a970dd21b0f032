"""The exceptions ivfpq raises. Every one is an ``IvfpqError``."""


class IvfpqError(Exception):
    """Base class of every ivfpq error."""


class InvalidArgumentError(IvfpqError, ValueError):
    """A bad argument: a wrong shape or dtype, NaN, k = 0, an id already present."""


class StorageError(IvfpqError, OSError):
    """Reading or writing a file or object failed (a missing file, an unreachable store)."""
