"""Self-supervised methods, one file each, in one registry (:data:`METHODS`)."""

from simclr.methods import (  # noqa: F401  (registration)
    barlow_twins,
    byol,
    mae,
    nnclr,
    simclr,
    simsiam,
    swav,
    vicreg,
    vicregl,
)
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, Progress, ViewSpec

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
        name: Registered method name (``simclr``, ``mae``, ``byol``, ``simsiam``,
            ``barlow_twins``, ``vicreg``, ``vicregl``, ``nnclr``, ``swav``).
        backbone: Backbone module with ``num_features``.
        params: ``method.params`` mapping, checked by the method's config class.
        norm: Head normalisation (``batch`` or ``group``).

    Raises:
        ValueError: Unknown method (listing names) or bad parameters.
    """
    cls = METHODS.get(name)
    return cls(backbone, cls.config_class.from_params(params), norm=norm)
