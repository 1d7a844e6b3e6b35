"""Errors a user can act on. Each message is one line that says what to do."""


class RagError(Exception):
    """Base class: the CLI prints these as a one-line error and exits non-zero."""


class ConfigError(RagError):
    pass


class CorpusError(RagError):
    """One input file or record could not be read; it is reported and skipped."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class IndexMissingError(RagError):
    pass


class IndexLockedError(RagError):
    pass


class IndexMismatchError(RagError):
    pass


class ModelError(RagError):
    """A model or backend is missing or unreachable."""


class FilterError(RagError):
    """A search filter (outlet, date, language) that cannot be applied as given."""
