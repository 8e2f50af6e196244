"""The error tree: each class knows its exit code and HTTP status, and narrows a builtin."""

from __future__ import annotations

import pytest

from shipyard.errors import (
    ConfigError,
    IntegrityError,
    MissingDependencyError,
    NotFoundError,
    ProjectNotFoundError,
    SchemaVersionError,
    ShipyardError,
    StorageError,
    UnsafeKeyError,
)


@pytest.mark.parametrize(
    ("cls", "builtin", "status"),
    [
        (ConfigError, ValueError, 400),
        (ProjectNotFoundError, FileNotFoundError, 404),
        (NotFoundError, LookupError, 404),
        (StorageError, OSError, 503),
        (UnsafeKeyError, ValueError, 400),
        (IntegrityError, OSError, 503),
        (SchemaVersionError, OSError, 503),
    ],
)
def test_each_error_narrows_a_builtin_and_knows_its_status(
    cls: type[ShipyardError], builtin: type[Exception], status: int
) -> None:
    error = cls("something is wrong")
    assert isinstance(error, ShipyardError)
    assert isinstance(error, builtin)
    assert error.http_status == status
    assert error.exit_code == 2
    assert str(error) == "something is wrong"


def test_hint_is_kept_apart_and_shown() -> None:
    error = StorageError("could not save", hint="check the bucket")
    assert error.message == "could not save"
    assert str(error) == "could not save\nHint: check the bucket"


def test_config_error_lists_problems() -> None:
    error = ConfigError("2 problems:", problems=["a: bad", "b: worse"])
    assert error.problems == ["a: bad", "b: worse"]
    assert str(error) == "2 problems:\n  a: bad\n  b: worse"


def test_missing_dependency_names_the_install_command() -> None:
    error = MissingDependencyError("s3fs", "s3", "an s3:// artifact store")
    assert isinstance(error, ImportError)
    assert error.hint == "pip install 'shipyard[s3]'"
