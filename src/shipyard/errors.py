"""Every error shipyard raises on purpose.

The tree (every subclass anywhere in the package; ``tests/test_errors.py`` pins it
against ``ShipyardError.__subclasses__()``). ``(HTTP n)`` marks a status that
differs from the parent's; ``(exit n)`` one that differs from 2, the default::

    ShipyardError                          (exit 2, HTTP 500)
    ├── ConfigError(ValueError)            the project file is wrong          (HTTP 400)
    │   └── ProjectNotFoundError(FileNotFoundError)  no shipyard.yaml          (HTTP 404)
    ├── NotFoundError(LookupError)         a named thing does not exist       (HTTP 404)
    ├── DataError(ValueError)              a source cannot be read as a table (HTTP 422)
    │   ├── BatchRejectedError             a batch failed a batch-level check: no version written
    │   └── BatchQuarantinedError          more of a batch quarantined than allowed (exit 1)
    ├── StorageError(OSError)              the database or artifact store failed (HTTP 503)
    │   ├── UnreachableError               the store did not answer; it may come up later
    │   ├── NoSpaceError                   a write found no room (disk full, quota): nothing written
    │   ├── UnsafeKeyError(ValueError)     an artifact key escapes the store  (HTTP 400)
    │   ├── IntegrityError                 stored bytes no longer match their hash
    │   └── SchemaVersionError             the database was written by a newer shipyard
    ├── MissingDependencyError(ImportError)  an optional extra is not installed
    ├── ConcurrentIngestError              data: another ingest committed first (HTTP 409)
    ├── TrainingError                      training: the train function failed (HTTP 422)
    ├── ModelFormatError(ValueError)       models: cannot save or load in that format (HTTP 422)
    │   └── MalformedModelError            a loaded tree model is inconsistent inside
    ├── PredictionInputError(ValueError)   models: the rows lack the model's features (HTTP 422)
    ├── ScoreInputError(ValueError)        batch, monitor --data: the rows to score do not fit the model (HTTP 422) (exit 1)
    ├── ModelMismatchError(ValueError)     models: a model does not fit its features, task or data (HTTP 422)
    ├── AliasError(ValueError)             models: an alias name is not allowed (HTTP 422)
    ├── EnvironmentMismatchError           models: trained with other package versions; strict refuses it (HTTP 503)
    ├── GateError                          evaluation: the gates refuse a promotion (HTTP 409)
    ├── QueryError(ValueError)             predlog: a query of the prediction log is malformed (HTTP 400)
    ├── RequestError(ValueError)           serving: a request not passed to the model (HTTP 422)
    │   ├── MalformedRequestError          the body is not JSON of the protocol's shape (HTTP 400)
    │   ├── TooLargeError                  the body or its rows are over the limit (HTTP 413)
    │   └── UnsupportedEncodingError       the body's Content-Encoding is not gzip or deflate (HTTP 415)
    ├── HttpError                          serving: a refusal with its own status per instance
    │   ├── OverloadedError                shed within the latency budget: 429, 503 while draining
    │   └── MethodNotAllowed               the path has a route, not for this method: 405
    ├── UnavailableError                   serving: neither model nor fallback answered (HTTP 503)
    ├── DeployError                        deploy: build/deploy cannot write what was asked (HTTP 409) (exit 1)
    ├── MaintenanceError                   maintenance: a step refused (HTTP 409) (exit 1)
    │   ├── RunInProgressError             a run of the model is going: who holds it since when
    │   └── RollbackError                  no earlier champion, or not that version
    └── ExposureError                      serve: listening beyond this machine unprotected

Each class knows its HTTP status and CLI exit code, so the server and the CLI
translate mechanically. Messages say what was wrong, the value, what is allowed
and the next step; ``hint`` carries that next step separately so entry points
can format it.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of every error shipyard raises on purpose: a user-facing problem."""

    exit_code: int = 2
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


class ConfigError(ShipyardError, ValueError):
    """The project file (or an override of it) is wrong.

    ``problems`` lists one line per problem (``key.path: expected …, got …``).
    """

    http_status = 400

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message, hint=hint)


class ProjectNotFoundError(ConfigError, FileNotFoundError):
    """No project file where one was expected."""

    http_status = 404


class NotFoundError(ShipyardError, LookupError):
    """A named thing (artifact, version, model, dataset) does not exist."""

    http_status = 404


class DataError(ShipyardError, ValueError):
    """A data source cannot be read as a table: the message names the file, line or column."""

    http_status = 422


class BatchRejectedError(DataError):
    """A batch failed a batch-level check set to reject; no version was written.

    ``report`` is the validation report (a plain dict) that explains every check.
    """

    def __init__(self, message: str, *, report: dict[str, object], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class BatchQuarantinedError(DataError):
    """More of a batch failed its row checks than ``checks.max_quarantined`` allows. The
    version is written (its quarantine is there to inspect); the ingest is no success.
    Exit 1: the data was read and judged, the command was not misused."""

    exit_code = 1


class StorageError(ShipyardError, OSError):
    """The metadata database or the artifact store could not do what was asked."""

    http_status = 503


class UnreachableError(StorageError):
    """A store did not answer (refused, timed out, not resolvable yet, still starting).

    Unlike a refusal (a wrong password, a missing database), this may end by
    itself: ``shipyard serve`` waits it out. ``store`` is ``"metadata store"`` or
    ``"artifact store"``, ``url`` its address with credentials hidden, ``reason``
    the first line of what the driver said.
    """

    def __init__(
        self, message: str, *, store: str, url: str, reason: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.store = store
        self.url = url
        self.reason = reason


class NoSpaceError(StorageError):
    """A write found no room (disk full, over quota, over a file size limit); nothing was written."""


class UnsafeKeyError(StorageError, ValueError):
    """An artifact key would escape the store root."""

    http_status = 400


class IntegrityError(StorageError):
    """Stored bytes no longer match the sha256 they were stored under."""


class SchemaVersionError(StorageError):
    """The metadata database was written by a newer shipyard than this one."""


class MissingDependencyError(ShipyardError, ImportError):
    """An optional dependency is needed for what was asked and is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed",
            hint=f"pip install 'shipyard[{extra}]'",
        )


def first_line(exc: object) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
