"""The examples in the mask modules' docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "segaug.masks",
    "segaug.masks.base",
    "segaug.masks.cache",
    "segaug.masks.classical",
    "segaug.masks.deeplab",
    "segaug.masks.sam",
    "segaug.masks.gt",
    "segaug.masks.precompute",
    "segaug.data.masked",
    "segaug.cli.precompute_masks",
]


@pytest.mark.parametrize("name", MODULES)
def test_mask_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
