"""The exceptions ivfpq raises. Every one is an ``IvfpqError``."""


class IvfpqError(Exception):
    """Base class of every ivfpq error."""


class InvalidArgumentError(IvfpqError, ValueError):
    """A bad argument: a wrong shape or dtype, NaN, k = 0, an id already present."""


class StorageError(IvfpqError, OSError):
    """Reading or writing a file or object failed (a missing file, an unreachable store)."""


class EmbeddingError(IvfpqError):
    """An embedding function failed (its own message is kept), or returned vectors of the
    wrong shape or with NaN or infinity."""


class TransientEmbeddingError(IvfpqError):
    """Raised by an embedding function for a failure that may pass (a timeout, a rate
    limit): the call is retried with backoff."""


class EmbeddingUnavailableError(IvfpqError, LookupError):
    """The collection records an embedding function this process was not given."""
