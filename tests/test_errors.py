"""The error tree: each class knows its exit code and HTTP status, and narrows a builtin.

The tree drawn in errors.py's docstring is the real one (as httpx pins its own):
every module of the package is imported, every ``ShipyardError`` subclass found,
and the drawing must name exactly those classes, each under its real parent,
with the builtins it also narrows and, where drawn, its HTTP status.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import shipyard
from shipyard import errors
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


# -- the drawn tree ------------------------------------------------------------
LINE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w*)(?:\((?P<builtins>[\w, ]+)\))?(?P<rest>.*)$"
)
STATUS = re.compile(r"\(HTTP (\d{3})\)")
EXIT = re.compile(r"\(exit (\d+)\)")


@dataclass(frozen=True)
class Drawn:
    """One line of the drawing: a class, its parent in the drawing, and what it says of it."""

    name: str
    parent: str | None
    builtins: tuple[str, ...]
    http_status: int | None
    exit_code: int | None = None


def drawn_tree(doc: str) -> dict[str, Drawn]:
    """Parse the tree under ``…::`` in ``doc``: four columns of indentation per level."""
    lines = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    tree: dict[str, Drawn] = {}
    parents: list[str] = []
    for line in lines:
        match = LINE.match(line[4:])
        assert match, f"cannot read this line of the drawn tree: {line!r}"
        depth = len(match["indent"]) // 4
        parents = parents[:depth]
        name = match["name"]
        assert name not in tree, f"{name} is drawn twice"
        builtins = tuple(b.strip() for b in (match["builtins"] or "").split(",") if b.strip())
        status = STATUS.search(match["rest"])
        exit_code = EXIT.search(match["rest"])
        tree[name] = Drawn(
            name,
            parents[-1] if parents else None,
            builtins,
            int(status[1]) if status else None,
            int(exit_code[1]) if exit_code else None,
        )
        parents.append(name)
    return tree


def all_modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(shipyard.__path__, "shipyard.")
        if not m.name.endswith("__main__")  # runs the CLI
    ]


def real_tree() -> dict[str, type[ShipyardError]]:
    for name in all_modules():
        importlib.import_module(name)
    found: dict[str, type[ShipyardError]] = {"ShipyardError": ShipyardError}
    todo = [ShipyardError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("shipyard."):  # not a test's own subclass
                assert found.setdefault(sub.__name__, sub) is sub, (
                    f"two classes named {sub.__name__}"
                )
                todo.append(sub)
    return found


DRAWN = drawn_tree(errors.__doc__ or "")
REAL = real_tree()


def test_the_drawing_names_exactly_the_real_classes() -> None:
    assert sorted(DRAWN) == sorted(REAL)


@pytest.mark.parametrize("name", sorted(REAL))
def test_each_class_sits_where_it_is_drawn(name: str) -> None:
    cls = REAL[name]
    drawn = DRAWN.get(name)
    assert drawn is not None, f"{cls.__module__}.{name} is not drawn in errors.py's docstring"
    family = [b for b in cls.__bases__ if issubclass(b, ShipyardError)]
    builtins = [b.__name__ for b in cls.__bases__ if not issubclass(b, ShipyardError)]
    if name == "ShipyardError":
        assert drawn.parent is None
    else:
        assert [b.__name__ for b in family] == [drawn.parent], f"{name}'s parent"
    if builtins != ["Exception"]:
        assert list(drawn.builtins) == builtins, f"the builtins {name} narrows"
    if drawn.http_status is not None:
        assert cls.http_status == drawn.http_status, f"{name}'s HTTP status"
    elif drawn.parent is not None:  # undrawn: the same as its parent's
        assert cls.http_status == REAL[drawn.parent].http_status, f"{name}'s HTTP status"
    if drawn.exit_code is not None:
        assert cls.exit_code == drawn.exit_code, f"{name}'s exit code"
    elif drawn.parent is not None:  # undrawn: the same as its parent's
        assert cls.exit_code == REAL[drawn.parent].exit_code, f"{name}'s exit code"


def test_the_parser_reads_depth_parent_builtins_and_status() -> None:
    doc = "Tree::\n\n    A\n    ├── B(ValueError)   (HTTP 400) (exit 1)\n    │   └── C\n    └── D\n\nEnd."
    assert drawn_tree(doc) == {
        "A": Drawn("A", None, (), None),
        "B": Drawn("B", "A", ("ValueError",), 400, 1),
        "C": Drawn("C", "B", (), None),
        "D": Drawn("D", "A", (), None),
    }
