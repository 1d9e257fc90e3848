"""The library's errors: all in shoebox_core.errors, under ShoeboxError, still importable where
they lived before."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import shoebox_core
from shoebox_core import errors
from shoebox_core.ship.background import is_permanent


def _modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(shoebox_core.__path__, "shoebox_core.")
        # The test helpers define test classes, not errors; __main__ would run the command.
        if ".testing" not in info.name and not info.name.endswith("__main__")
    ]


def test_every_error_class_of_the_core_lives_in_errors_py() -> None:
    elsewhere = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in vars(module).items():
            # A private exception (format.v1's _Damage) is a module's own control flow: it is
            # turned into a public error before it leaves the module.
            if (isinstance(value, type) and issubclass(value, BaseException)
                    and value.__module__ == name and name != "shoebox_core.errors"
                    and not value.__name__.startswith("_")):
                elsewhere.append(f"{name}.{value.__qualname__}")
    assert elsewhere == []


def test_every_error_is_a_shoebox_error_and_documented() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    defined = {v for v in vars(errors).values() if isinstance(v, type)
               and issubclass(v, BaseException)}
    assert set(classes) == defined
    for cls in classes:
        assert issubclass(cls, errors.ShoeboxError), cls
        assert cls.__doc__, cls
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the tree"


@pytest.mark.parametrize(
    "module, name, cls",
    [
        ("shoebox_core", "NoMoreFiles", errors.NoMoreFiles),
        ("shoebox_core.roll_manager", "NoMoreFiles", errors.NoMoreFiles),
        ("shoebox_core.read.manager", "NoMoreFiles", errors.NoMoreFiles),
        ("shoebox_core.ship.background", "BacklogFull", errors.BacklogFull),
        ("shoebox_core.ship.chain", "JournalConflict", errors.JournalConflict),
        ("shoebox_core.ship.chain", "StepMismatch", errors.JournalConflict),
        ("shoebox_core.ship.journal", "JournalError", errors.JournalError),
        ("shoebox_core.ship.object_names", "ObjectNameError", errors.ObjectNameError),
        ("shoebox_core.ship.transfer", "TransferError", errors.TransferError),
        ("shoebox_core.ship.transfer", "VerificationError", errors.VerificationError),
        ("shoebox_core.config.selectors", "MissingField", errors.MissingField),
        ("shoebox_core.cli._common", "CommandError", errors.CommandError),
        ("shoebox_core.plugin", "CommandError", errors.CommandError),
        ("shoebox_core.plugin", "TransferError", errors.TransferError),
    ],
)
def test_errors_stay_importable_from_their_old_homes(module: str, name: str, cls: type) -> None:
    assert getattr(importlib.import_module(module), name) is cls


def test_the_standard_bases_callers_relied_on_are_kept() -> None:
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.RecordTooLarge, ValueError)
    assert issubclass(errors.ObjectNameError, ValueError)
    assert issubclass(errors.MissingField, LookupError)
    # An object name that cannot be made is a transfer failure that retrying cannot mend.
    assert issubclass(errors.ObjectNameError, errors.TransferError)
    assert is_permanent(errors.ObjectNameError("field {x} is empty"))
    conflict = errors.JournalConflict("other steps", callback="journal", path="/a/x.events")
    assert is_permanent(conflict) and isinstance(conflict, errors.CallbackError)
    assert not is_permanent(errors.TransferError("timed out", path="/a/x.events"))


def test_messages_name_the_object_at_fault() -> None:
    assert str(errors.VerificationError("md5 differs", path="/a/x.events")) == \
        "/a/x.events: md5 differs"
    assert str(errors.TruncatedArchive("cut", path="x.events", offset=12)) == \
        "x.events at byte 12: cut"
    missing = errors.MissingField("kind", "$.event_type")
    assert (missing.name, str(missing)) == (
        "kind", "metadata 'kind': $.event_type is missing from the record"
    )
    assert errors.CommandError("no archive matches x*", 4).code == 4
    assert inspect.signature(errors.CallbackError).parameters["callback"].kind is \
        inspect.Parameter.KEYWORD_ONLY
