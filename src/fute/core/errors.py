"""Errors a user can cause and fix. The CLI prints their message as one line, no traceback."""


class FuteError(Exception):
    """Base class: a problem with the user's input or set-up, with a message saying what to do."""


class DataError(FuteError):
    """A data file, column, label set or catalogue entry is unusable."""


class FetchError(FuteError):
    """A registry archive could not be fetched, or its hash did not match."""


class ModelError(FuteError):
    """A model could not be loaded, or returned outputs that break the black-box protocol."""


class SpaceMismatchError(FuteError):
    """Vectors of two different embedding spaces were compared."""


class StoreError(FuteError):
    """The embedding store could not be read or written."""


class UnavailableError(DataError):
    """A data set or pool source whose files no source can give now (withdrawn, offline)."""
