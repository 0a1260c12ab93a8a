"""The examples in the augmentation modules' docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "segaug",
    "segaug.registry",
    "segaug.augment.ops",
    "segaug.augment.geometry",
    "segaug.augment.region",
    "segaug.augment.recipes",
    "segaug.augment.multiview",
    "segaug.viz",
    "segaug.env",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
