"""The one parser of mask specs: what ``gt``, ``files:DIR?...``, a cache directory or a
segmenter name stands for.

Wherever masks are named (:class:`~segaug.data.masked.MaskedDataset`, the trainer's
``data.masks``, ``segaug-precompute-masks --segmenter/--source``, ``segaug-visualize
--masks/--segmenter``, :func:`create_segmenter`), the name goes through
:func:`resolve_masks`, which answers with one :class:`ResolvedMasks`: which kind of
masks it is (a mask source, a mask cache or a segmenter), the registered name, the
constructor options, and, once built, the object itself. A spec is read in this order:

1. ``NAME:ROOT?key=value&...``, ``NAME?key=value&...`` or a bare ``NAME`` of a
   registered mask source (:data:`~segaug.masks.sources.MASK_SOURCES`, any case):
   that source. ``foreground=1,3`` / ``background=0,255`` are integer lists. A bare
   ``files`` (no folder: it comes from the ``root=`` option) is the ``files`` source,
   except where a cache directory is accepted and ``files`` names an existing path;
2. where a cache is accepted, a string that contains a path separator or names an
   existing path, or any :class:`os.PathLike`: a mask-cache directory (it must exist);
3. a registered segmenter name (:data:`~segaug.masks.base.SEGMENTERS`, any case),
   optionally with constructor options, ``NAME?key=value&...`` (values read as JSON:
   ``felzenszwalb?scale=500&sigma=0``, ``classical?method="saliency"`` or
   ``classical?method=saliency``); such a spec is a segmenter even where a cache is
   accepted and a value holds a path separator (``sam?checkpoint=/w/sam.pth``);
4. anything else is one ``ValueError`` line: the argument, what it got, and the valid
   forms (``argument = 'spec': problem; expected ...``).

Built objects (a :class:`~segaug.masks.sources.MaskSource`, a
:class:`~segaug.masks.cache.MaskCache`, a :class:`~segaug.masks.base.Segmenter`) and
earlier results pass through.

Example:
    >>> resolved = resolve_masks("files:/data/pets/trimaps?foreground=1,3", build=False)
    >>> resolved.kind, resolved.name, resolved.options, resolved.by_path
    ('source', 'files', {'root': '/data/pets/trimaps', 'foreground': (1, 3)}, True)
    >>> resolve_masks("classical", options={"margin": 0.1}).masks.config_id[:20]
    'classical{"iteration'
    >>> resolve_masks("nope", argument="data.masks")
    Traceback (most recent call last):
    ...
    ValueError: data.masks = 'nope': names no mask source, mask-cache directory or segmenter; expected 'gt', 'files:MASK_DIR[?foreground=1,3|background=0,255]', a mask-cache directory or a segmenter name (classical, deeplabv3, felzenszwalb, sam)
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from segaug.masks.base import SEGMENTERS, Segmenter
from segaug.masks.cache import MaskCache
from segaug.masks.sources import MASK_SOURCES, MaskSource

__all__ = [
    "ALL_KINDS",
    "MaskKind",
    "ResolvedMasks",
    "create_mask_source",
    "create_segmenter",
    "expected_forms",
    "mask_source_from_spec",
    "mask_spec_error",
    "parse_source_spec",
    "resolve_masks",
    "segmenter_gives_label_maps",
    "segmenter_loads_weights",
]

MaskKind = Literal["source", "cache", "segmenter"]
"""What a spec names: a mask source (looked up), a mask cache (precomputed) or a
segmenter (computed from pixels)."""

ALL_KINDS: tuple[MaskKind, ...] = ("source", "cache", "segmenter")
"""Every kind: what a dataset's ``masks`` accepts."""

_KIND_WORDS: dict[str, str] = {
    "source": "mask source",
    "cache": "mask cache",
    "segmenter": "segmenter",
}


@dataclass(frozen=True)
class ResolvedMasks:
    """What a mask spec names, parsed, and (once built) the object itself.

    Attributes:
        kind: ``"source"`` (``gt``, ``files``), ``"cache"`` or ``"segmenter"``.
        name: The registered name (``"gt"``, ``"files"``, ``"classical"``, ...);
            ``"cache"`` for a mask cache.
        options: The constructor's keyword arguments: the spec's (``root``,
            ``foreground``, ...) and the given ones (options, ``checkpoint``,
            ``device``); for a cache ``{"root": directory}``. A by-index source gets
            its ``dataset`` when built.
        spec: What was resolved (the string, path or object), for messages.
        argument: What the caller calls it (``"masks"``, ``"config 'data.masks'"``,
            ``"--source"``), for messages.
        masks: The built source, cache or segmenter; ``None`` until :meth:`build`.

    Example:
        >>> r = resolve_masks("gt", build=False)
        >>> r.needs_dataset, r.masks is None
        (True, True)
        >>> from segaug.data.synthetic import SyntheticShapes
        >>> type(r.build(SyntheticShapes("test", size=16, num_samples=2)).masks).__name__
        'GroundTruthMasks'
    """

    kind: MaskKind
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    spec: object = None
    argument: str = "masks"
    masks: MaskSource | MaskCache | Segmenter | None = None

    @property
    def by_path(self) -> bool:
        """True for a mask source that finds masks by image path (``files``)."""
        if isinstance(self.masks, MaskSource):
            return self.masks.by_path
        return self.kind == "source" and bool(MASK_SOURCES.get(self.name).by_path)

    @property
    def needs_dataset(self) -> bool:
        """True for a mask source that looks masks up by dataset index (``gt``)."""
        return self.kind == "source" and not self.by_path

    def build(self, dataset: Any = None) -> ResolvedMasks:
        """This result with :attr:`masks` built (``self`` when it already is).

        Args:
            dataset: The dataset a by-index source (``gt``) reads.

        Raises:
            ValueError: If the constructor refuses an option (one line naming
                :attr:`argument`); subclasses of ``ValueError`` propagate unchanged.
        """
        if self.masks is not None:
            return self
        kwargs = dict(self.options)
        factory: Any
        if self.kind == "cache":
            factory = MaskCache
        elif self.kind == "source":
            factory = MASK_SOURCES.get(self.name)
        else:
            factory = SEGMENTERS.get(self.name)
        if self.needs_dataset:
            kwargs.setdefault("dataset", dataset)
        try:
            built = factory(**kwargs)
        except TypeError as err:
            word = _KIND_WORDS[self.kind]
            takes = ", ".join(_keyword_names(factory))
            raise mask_spec_error(
                self.argument, self.spec, f"bad option for {word} {self.name!r}: {err}",
                f"the options {takes}",
            ) from err  # fmt: skip
        except ValueError as err:
            if type(err) is not ValueError:  # a specific error (refused checkpoint, ...)
                raise
            raise ValueError(f"{self.argument} = {_shown(self.spec)}: {err}") from None
        return dataclasses.replace(self, masks=built)


def _keyword_names(factory: Any) -> list[str]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _shown(spec: object) -> str:
    return repr(os.fspath(spec)) if isinstance(spec, os.PathLike) else repr(spec)


def mask_spec_error(argument: str, spec: object, problem: str, expected: str) -> ValueError:
    """The one error format for a bad mask spec: ``argument = 'spec': problem; expected ...``.

    Example:
        >>> print(mask_spec_error("masks", "x", "not found", "a folder"))
        masks = 'x': not found; expected a folder
    """
    return ValueError(f"{argument} = {_shown(spec)}: {problem}; expected {expected}")


def expected_forms(kinds: Collection[MaskKind] = ALL_KINDS) -> str:
    """The valid forms of a spec of ``kinds``, for error messages.

    Sources looked up by index come first, then those found by path.

    Example:
        >>> expected_forms(("source",))
        "'gt' or 'files:MASK_DIR[?foreground=1,3|background=0,255]'"
    """
    forms: list[str] = []
    if "source" in kinds:
        sources = sorted(MASK_SOURCES.names(), key=lambda n: (MASK_SOURCES.get(n).by_path, n))
        forms += [repr(MASK_SOURCES.get(n).spec_form) for n in sources]
    if "cache" in kinds:
        forms.append("a mask-cache directory")
    if "segmenter" in kinds:
        forms.append(f"a segmenter name ({', '.join(SEGMENTERS.names())})")
    return _or_join(forms)


def _or_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _int_list(argument: str, spec: str, form: str, key: str, raw: str) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise mask_spec_error(
            argument, spec, f"option {key!r} must be integers like 1,3, got {raw!r}", form
        )
    return tuple(int(p) for p in parts)


def parse_source_spec(spec: str, argument: str = "spec") -> tuple[str, dict[str, Any]]:
    """``NAME[:ROOT][?key=value&...]`` -> ``(name, kwargs)`` of a registered mask source.

    The options a source lists in ``int_list_options`` (``files``: ``foreground``,
    ``background``) become tuples of ints; the others stay strings.

    Args:
        spec: The spec string.
        argument: What the caller calls it, for messages.

    Raises:
        ValueError: If ``spec`` is malformed or names no mask source.

    Example:
        >>> parse_source_spec("files:/data/pets/trimaps?foreground=1,3&suffix=.png")
        ('files', {'root': '/data/pets/trimaps', 'foreground': (1, 3), 'suffix': '.png'})
        >>> parse_source_spec("GT")
        ('gt', {})
    """
    if not isinstance(spec, str) or not spec:
        raise mask_spec_error(argument, spec, "not a non-empty string", expected_forms(("source",)))
    head, _, query = spec.partition("?")
    name, colon, root = head.partition(":")
    name = name.lower()
    if name not in MASK_SOURCES:
        raise mask_spec_error(
            argument, spec, f"unknown source {name!r}", expected_forms(("source",))
        )
    source = MASK_SOURCES.get(name)
    form = repr(source.spec_form)
    kwargs: dict[str, Any] = {}
    if colon:
        if not root:
            raise mask_spec_error(argument, spec, f"empty folder after '{name}:'", form)
        kwargs["root"] = root
    for item in filter(None, query.split("&")):
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise mask_spec_error(argument, spec, f"expected key=value, got {item!r}", form)
        if key in source.int_list_options:
            kwargs[key] = _int_list(argument, spec, form, key, raw)
        else:
            kwargs[key] = raw
    return name, kwargs


def _names_a_path(spec: str) -> bool:
    separators = (os.sep, os.altsep) if os.altsep else (os.sep,)
    return any(s in spec for s in separators) or Path(spec).exists()


def _classify(
    spec: str, argument: str, kinds: Collection[MaskKind]
) -> tuple[MaskKind, str, dict[str, Any]]:
    """The kind, name and spec options of a spec string (order: see the module)."""
    name = spec.partition("?")[0].partition(":")[0].lower()
    if name in MASK_SOURCES:
        bare = spec.lower() == name
        a_cache = bare and MASK_SOURCES.get(name).by_path and "cache" in kinds
        if not (a_cache and Path(spec).exists()):
            return ("source", *parse_source_spec(spec, argument))
    head, question, query = spec.partition("?")
    if question and head.lower() in SEGMENTERS and not Path(spec).exists():
        return "segmenter", head.lower(), _segmenter_options(spec, argument, head.lower(), query)
    if "cache" in kinds and spec and _names_a_path(spec):
        if not Path(spec).is_dir():
            raise mask_spec_error(
                argument, spec, "no such mask-cache directory", expected_forms(kinds)
            )
        return "cache", "cache", {"root": spec}
    if spec.lower() in SEGMENTERS:
        return "segmenter", spec.lower(), {}
    named = {"source": "mask source", "cache": "mask-cache directory", "segmenter": "segmenter"}
    problem = "names no " + _or_join([named[k] for k in ALL_KINDS if k in kinds])
    raise mask_spec_error(argument, spec, problem, expected_forms(kinds))


def _segmenter_options(spec: str, argument: str, name: str, query: str) -> dict[str, Any]:
    """The ``key=value&...`` options of a segmenter spec; values read as JSON, else text."""
    form = repr(f"{name}?key=value&...")
    options: dict[str, Any] = {}
    for item in query.split("&"):
        key, eq, raw = item.partition("=")
        if not eq or not key.isidentifier():
            raise mask_spec_error(argument, spec, f"expected key=value, got {item!r}", form)
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def segmenter_loads_weights(name: str) -> bool:
    """Whether segmenter ``name`` loads weights (takes a ``checkpoint``).

    Example:
        >>> segmenter_loads_weights("classical"), segmenter_loads_weights("deeplabv3")
        (False, True)
    """
    return bool(getattr(SEGMENTERS.get(name), "loads_weights", False))


def segmenter_gives_label_maps(spec: str) -> bool:
    """Whether ``spec`` names a segmenter that gives label maps (``felzenszwalb``), not
    binary foreground masks; ``False`` for anything else, or a spec that does not resolve.

    Example:
        >>> segmenter_gives_label_maps("felzenszwalb?scale=500")
        True
        >>> segmenter_gives_label_maps("classical"), segmenter_gives_label_maps("gt")
        (False, False)
    """
    try:
        resolved = resolve_masks(spec, argument="masks", build=False)
    except (ValueError, LookupError):
        return False
    segmenter = SEGMENTERS.get(resolved.name) if resolved.kind == "segmenter" else None
    return bool(getattr(segmenter, "label_maps", False))


def _with_arguments(
    resolved: ResolvedMasks,
    options: Mapping[str, Any],
    checkpoint: str | os.PathLike[str] | None,
    device: str | torch.device | None,
) -> ResolvedMasks:
    """``resolved`` with the given options, checkpoint and device folded into its options."""
    kwargs = {**resolved.options, **options}
    loads_weights = resolved.kind == "segmenter" and segmenter_loads_weights(resolved.name)
    if checkpoint is not None:
        if not loads_weights:
            word = _KIND_WORDS[resolved.kind]
            weighted = [n for n in SEGMENTERS.names() if segmenter_loads_weights(n)]
            raise mask_spec_error(
                "checkpoint", checkpoint, f"the {word} {resolved.name!r} takes no checkpoint",
                f"no checkpoint (only {', '.join(weighted)} load weights)",
            )  # fmt: skip
        kwargs["checkpoint"] = os.fspath(checkpoint)
    if device is not None and loads_weights:  # weight-free ones compute on the CPU
        kwargs.setdefault("device", device)
    if resolved.kind == "cache" and options:
        raise mask_spec_error(
            resolved.argument, resolved.spec,
            f"a mask cache takes no options, got {sorted(options)}", "no options",
        )  # fmt: skip
    return dataclasses.replace(resolved, options=kwargs)


def resolve_masks(
    spec: str | os.PathLike[str] | MaskSource | MaskCache | Segmenter | ResolvedMasks,
    *,
    argument: str = "masks",
    kinds: Collection[MaskKind] = ALL_KINDS,
    options: Mapping[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    dataset: Any = None,
    build: bool = True,
) -> ResolvedMasks:
    """Parse a mask spec (and build what it names) wherever masks are named.

    Args:
        spec: A spec string (``"gt"``, ``"files:DIR?foreground=1,3"``, a cache
            directory, ``"classical"``), a path (a cache directory), a built
            source / cache / segmenter, or an earlier :class:`ResolvedMasks` (an
            unbuilt one takes the options, checkpoint and device given now too).
        argument: What the caller calls ``spec``; every error message starts with it.
        kinds: The kinds the caller accepts (default all).
        options: Constructor keyword arguments (a source's, added to and overriding
            the spec's; a segmenter's).
        checkpoint: Weights file of a segmenter that loads weights (``deeplabv3``,
            ``sam``); refused for the others.
        device: Device of a segmenter that loads weights (unless ``options`` set one);
            ignored by the others, which compute on the CPU.
        dataset: The dataset a by-index source (``gt``) reads, when built.
        build: Build the object now (``False``: only parse and check).

    Returns:
        The :class:`ResolvedMasks`; :attr:`~ResolvedMasks.masks` is the object when
        built.

    Raises:
        ValueError: On a bad spec, a kind not in ``kinds``, a refused checkpoint or a
            bad option: one line naming ``argument``, what it got and what it expects.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> resolve_masks(folder, build=False).kind
        'cache'
        >>> resolve_masks(f"files:{folder}?background=0,255").masks.background
        (0, 255)
        >>> resolve_masks("sam", kinds=("source",), argument="--source")
        Traceback (most recent call last):
        ...
        ValueError: --source = 'sam': a segmenter is not accepted here; expected 'gt' or 'files:MASK_DIR[?foreground=1,3|background=0,255]'
    """  # noqa: E501
    if isinstance(spec, ResolvedMasks):
        resolved = spec
    elif isinstance(spec, (MaskSource, MaskCache, Segmenter)):
        kind: MaskKind = (
            "source" if isinstance(spec, MaskSource)
            else "cache" if isinstance(spec, MaskCache) else "segmenter"
        )  # fmt: skip
        name = "cache" if isinstance(spec, MaskCache) else spec.name
        resolved = ResolvedMasks(kind, name, spec=spec, argument=argument, masks=spec)
    elif isinstance(spec, os.PathLike) and not isinstance(spec, str):
        if "cache" in kinds and not Path(spec).is_dir():
            raise mask_spec_error(
                argument, spec, "no such mask-cache directory", expected_forms(kinds)
            )
        resolved = ResolvedMasks("cache", "cache", {"root": spec}, spec=spec, argument=argument)
    elif isinstance(spec, str):
        kind, name, spec_options = _classify(spec, argument, kinds)
        resolved = ResolvedMasks(kind, name, spec_options, spec=spec, argument=argument)
    else:
        raise mask_spec_error(
            argument, spec,
            f"not a spec string, a path, a MaskSource, a MaskCache or a Segmenter (got "
            f"{type(spec).__name__})", expected_forms(kinds),
        )  # fmt: skip
    if resolved.kind not in kinds:
        raise mask_spec_error(
            resolved.argument, resolved.spec,
            f"a {_KIND_WORDS[resolved.kind]} is not accepted here", expected_forms(kinds),
        )  # fmt: skip
    if resolved.masks is None:
        resolved = _with_arguments(resolved, options or {}, checkpoint, device)
        if build:
            resolved = resolved.build(dataset)
    return resolved


def create_segmenter(name: str, **kwargs: Any) -> Segmenter | MaskSource:
    """Build a segmenter by name (or the mask source a name or spec names).

    ``gt`` and ``files`` are mask sources, not segmenters; ``create_segmenter("gt",
    dataset=ds)`` still returns the ``gt`` source, as :func:`create_mask_source` does.

    Args:
        name: ``classical`` (weight-free), ``deeplabv3``, ``sam``; or a mask source
            name or spec (``gt``, ``files:MASK_DIR?foreground=1,3``).
        **kwargs: Passed to the constructor (``dataset=`` for ``gt``).

    Returns:
        The segmenter (or the mask source).

    Raises:
        ValueError: If ``name`` is unknown (the message lists the valid forms) or a
            keyword argument is invalid.

    Example:
        >>> create_segmenter("classical").name
        'classical'
    """
    resolved = resolve_masks(name, argument="name", kinds=("segmenter", "source"), options=kwargs)
    return resolved.masks  # type: ignore[return-value]


def create_mask_source(name: str, **kwargs: Any) -> MaskSource:
    """Build a registered mask source by name or spec (``gt``: ``dataset=``; ``files``: ``root=``).

    Raises:
        ValueError: If ``name`` names no mask source (the message lists the forms) or
            an argument is invalid.

    Example:
        >>> import tempfile
        >>> create_mask_source("files", root=tempfile.mkdtemp()).config_id
        'files{"background":[0],"suffix":".png"}'
    """
    return resolve_masks(name, argument="name", kinds=("source",), options=kwargs).masks  # type: ignore[return-value]


def mask_source_from_spec(spec: str, dataset: Any = None) -> MaskSource:
    """Build the source a spec string names (``gt`` needs ``dataset``).

    Example:
        >>> import tempfile
        >>> src = mask_source_from_spec(f"files:{tempfile.mkdtemp()}?foreground=1,3")
        >>> src.name, src.foreground
        ('files', (1, 3))
    """
    resolved = resolve_masks(spec, argument="spec", kinds=("source",), dataset=dataset)
    return resolved.masks  # type: ignore[return-value]
