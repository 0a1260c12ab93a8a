"""Self-supervised methods, one file each, in one registry (:data:`METHODS`)."""

from simclr.methods import mae, simclr  # noqa: F401  (registration)
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams

__all__ = ["METHODS", "Method", "MethodOutput", "MethodParams", "build_method"]


def build_method(name: str, backbone, params: dict | None = None, norm: str = "batch") -> Method:
    """Build a registered method around ``backbone``.

    Args:
        name: Registered method name (``simclr``, ``mae``).
        backbone: Backbone module with ``num_features``.
        params: ``method.params`` mapping, checked by the method's config class.
        norm: Head normalisation (``batch`` or ``group``).

    Raises:
        ValueError: Unknown method (listing names) or bad parameters.
    """
    cls = METHODS.get(name)
    return cls(backbone, cls.config_class.from_params(params), norm=norm)
