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


class IndexWriteError(RagError):
    """Writing the index failed for a reason the operator can fix (a full disk); nothing live was changed."""


class ModelError(RagError):
    """A model or backend is missing or unreachable."""


class FilterError(RagError):
    """A search filter (outlet, date, language) that cannot be applied as given; `field` names it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InputError(RagError):
    """A request's field that cannot be used as given (an empty question, k out of range); `field` names it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(RagError, LookupError):
    """An article, story or alert the archive does not hold; the message says where ids come from."""
