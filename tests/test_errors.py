"""Every error class has its exit code and its HTTP status, in one table each."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import modelward
from modelward import errors
from modelward.cli.main import EXIT_CODES, exit_code
from modelward.serving.errors import HTTP_ERRORS, http_status


def _error_classes() -> set[type[errors.ModelwardError]]:
    """The classes errors.py defines (like httpx's tests/test_exceptions.py)."""
    return {
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, errors.ModelwardError)
        and value.__module__ == errors.__name__
    }


def test_every_error_class_has_an_exit_code() -> None:
    assert set(EXIT_CODES) == _error_classes()
    assert set(EXIT_CODES.values()) <= {1, 2}


def test_every_error_class_has_an_http_status() -> None:
    assert set(HTTP_ERRORS) == _error_classes()
    types = [kind for _status, kind in HTTP_ERRORS.values()]
    assert len(set(types)) == len(types)  # a client can tell them apart


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_error_classes_defined_elsewhere_refine_a_meaning() -> None:
    # A class outside errors.py (evaluation's MetricInputError, an InvalidInput and a
    # ValueError) takes the code and status of its nearest mapped parent: that parent
    # must say more than "something failed".
    for module in pkgutil.walk_packages(modelward.__path__, "modelward."):
        if module.name.endswith("__main__") or ".migrations" in module.name:
            continue  # a program, and scripts alembic runs
        try:
            importlib.import_module(module.name)
        except ImportError:  # an optional extra (onnx, postgres) that is not installed
            continue
    for cls in _subclasses(errors.ModelwardError) - _error_classes():
        parent = next(c for c in cls.__mro__ if c in HTTP_ERRORS)
        assert parent is not errors.ModelwardError, f"{cls} refines no error of errors.py"


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (errors.ModelwardError("x"), 1, 500),
        (errors.InvalidInput("x"), 2, 400),
        (errors.NotFound("x"), 2, 404),
        (errors.AlreadyExists("x"), 2, 409),
        (errors.DoesNotFit("x"), 2, 422),
        (errors.TooLarge("x"), 2, 413),
        (errors.UnsupportedMediaType("x"), 2, 415),
        (errors.Conflict("x"), 1, 409),
        (errors.GateFailed("x"), 1, 409),
        (errors.IntegrityError("x"), 1, 500),
    ],
)
def test_codes_follow_the_product_contract(
    error: errors.ModelwardError, code: int, status: int
) -> None:
    # PRODUCT.md: exit 1 the work failed, 2 bad usage or bad input; 400 malformed,
    # 413 too large, 422 does not fit the model's signature.
    assert exit_code(error) == code
    assert http_status(error) == status


def test_anything_else_is_exit_1_and_http_500() -> None:
    import click

    assert exit_code(RuntimeError("bug")) == 1 and http_status(RuntimeError("bug")) == 500
    assert exit_code(click.UsageError("bad")) == 2
    assert exit_code(KeyboardInterrupt()) == 130
