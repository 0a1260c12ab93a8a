"""Self-supervised methods, one module each, in one registry (:data:`METHODS`).

Every module of this package except ``base`` is imported below, in name order, so its
``@METHODS.register(...)`` runs: a new method is one new file here (plus its loss in
:mod:`simclr.losses`), and neither this file nor any name list needs editing. The
registry lists the methods (``METHODS.names()``) for error messages, the docs and the
tests.

Example:
    >>> from simclr.methods import METHODS
    >>> {"simclr", "mae", "byol", "swav"} <= set(METHODS.names())
    True
"""

import importlib
import pkgutil

from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, Progress, ViewSpec

# Register every method: import each module of this package (the interface excepted).
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "METHODS",
    "Method",
    "MethodOutput",
    "MethodParams",
    "Progress",
    "ViewSpec",
    "build_method",
]


def build_method(name: str, backbone, params: dict | None = None, norm: str = "batch") -> Method:
    """Build a registered method around ``backbone``.

    Args:
        name: Registered method name (one of ``METHODS.names()``).
        backbone: Backbone module with ``num_features``.
        params: ``method.params`` mapping, checked by the method's config class.
        norm: Head normalisation (``batch`` or ``group``).

    Raises:
        ValueError: Unknown method (listing names) or bad parameters.
    """
    cls = METHODS.get(name)
    return cls(backbone, cls.config_class.from_params(params), norm=norm)
