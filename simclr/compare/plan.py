"""The run plan of a study: its rows and seeds (:class:`RunSpec`) and each run's training config.

A study crosses rows (the anchors its protocol asks for, the baseline, every recipe and
sweep value) with methods, batch sizes and seeds, seed-major so each seed's rows finish
together. Each run is one ``simclr-train`` config (:func:`train_config`).

The data of a run depends on what the dataset can do, not on its name: a dataset with
exact backgrounds (:attr:`segaug.data.DatasetInfo.exact_backgrounds`) renders its
images from the settings (``num_samples``, ``bias``, ``style``, ``data_params``); any
other is read from ``data_root`` with ``masks`` and ``data_params``.

Example:
    >>> from simclr.compare.settings import CompareSettings
    >>> s = CompareSettings(recipes=("thesis",), methods=("simclr", "byol"), seeds=(0,))
    >>> [r.row for r in plan_runs(s)][:3]
    ['simclr / objects alone', 'simclr / simclr', 'simclr / thesis']
    >>> train_config(s, plan_runs(s)[0], Path("runs/x")).data.params["background"]
    'neutral'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simclr.compare.settings import CompareSettings

__all__ = [
    "ANCHOR",
    "BASELINE",
    "DEGRADED_PREFIX",
    "EXACT_MASKS",
    "RunSpec",
    "earlier_names",
    "mask_cache_dir",
    "mask_variants",
    "masks_label",
    "parse_sweep",
    "plan_runs",
    "renders_data",
    "rendered_data_options",
    "rendering_datasets",
    "sweep_rows",
    "train_config",
]

ANCHOR = "objects alone"
"""Row of the upper anchor: the baseline recipe pretrained on objects on neutral gray."""
BASELINE = "simclr"
"""Recipe (and row) of the baseline every other row is paired with."""


EXACT_MASKS = "gt"
"""``RunSpec.masks`` of a run trained with the dataset's exact masks."""
DEGRADED_PREFIX = "iou="
"""``RunSpec.masks`` prefix of a run trained with exact masks degraded to a target IoU."""


@dataclass(frozen=True)
class RunSpec:
    """One pretraining run: a row of the report at one seed.

    Attributes:
        row: The report row (method, batch size and budget prefixes, then ``label``).
        kind: ``"anchor"``, ``"baseline"`` or ``"recipe"``.
        method: SSL method.
        recipe: Recipe name.
        params: Recipe parameters of a sweep row.
        seed: Pretraining seed.
        label: The recipe part of the row (without method, batch size and budget).
        batch_size: Global batch (0: the settings' ``batch_size``).
        epochs: Pretraining epochs (0: the settings' ``epochs``).
        masks: The masks the run trains with: :data:`EXACT_MASKS`, a segmenter name
            (its masks precomputed once into the study's mask cache), or
            ``"iou=0.75"`` (the exact masks degraded to that IoU).
    """

    row: str
    kind: str
    method: str
    recipe: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    label: str = ""
    batch_size: int = 0
    epochs: int = 0
    masks: str = EXACT_MASKS

    @property
    def name(self) -> str:
        """Folder name of the run (stable, file-system safe)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.row)
        return f"{safe}-seed{self.seed}"


def masks_label(masks: str) -> str:
    """How a row names the masks it trains with (empty for the exact masks).

    Example:
        >>> masks_label("gt"), masks_label("classical"), masks_label("iou=0.75")
        ('', ' [classical masks]', ' [masks at IoU 0.75]')
    """
    if masks == EXACT_MASKS:
        return ""
    if masks.startswith(DEGRADED_PREFIX):
        return f" [masks at IoU {masks[len(DEGRADED_PREFIX) :]}]"
    return f" [{masks} masks]"


def mask_variants(s: CompareSettings) -> tuple[str, ...]:
    """The masks every recipe row trains with beyond the exact ones (``RunSpec.masks``)."""
    degraded = tuple(f"{DEGRADED_PREFIX}{v:g}" for v in s.degraded_masks)
    return (*s.segmenter_masks, *degraded)


def _row_label(
    shown: tuple[bool, bool, bool], method: str, batch: int, epochs: int, label: str
) -> str:
    """A row's name: the method, batch size and budget prefixes that ``shown`` asks for
    (a study names an axis only when it has several values), then ``label``."""
    parts = (method, f"bs {batch}", f"{epochs} ep")
    return " / ".join([*(part for part, show in zip(parts, shown, strict=True) if show), label])


def _shown_axes(s: CompareSettings) -> tuple[bool, bool, bool]:
    """Which axes the study's row names show: methods, batch sizes, budgets."""
    return len(s.methods) > 1, len(s.batch_sizes) > 1, len(s.budgets) > 1


def earlier_names(spec: RunSpec) -> list[str]:
    """The other folder names ``spec``'s run has in studies whose row names show other
    axes (method, batch size, budget: every combination but its own).

    A study that gains a second method, batch size or budget on resume names its rows
    with that axis, so a run finished before has one of these names.

    Example:
        >>> spec = RunSpec("simclr / thesis", "recipe", "simclr", "thesis", (), 0, "thesis",
        ...                128, 6)
        >>> earlier_names(spec)[:3]
        ['thesis-seed0', '6-ep---thesis-seed0', 'bs-128---thesis-seed0']
    """
    from itertools import product

    rows = (
        _row_label(shown, spec.method, spec.batch_size, spec.epochs, spec.label)
        for shown in product((False, True), repeat=3)
    )
    names = (replace(spec, row=row).name for row in rows)
    return [name for name in dict.fromkeys(names) if name != spec.name]


def label_map_masks(masks: str) -> bool:
    """Whether ``RunSpec.masks`` names a segmenter that gives label maps (``felzenszwalb``):
    regions without a foreground, which only a method that reads regions can use.

    Example:
        >>> label_map_masks("gt"), label_map_masks("classical"), label_map_masks("iou=0.6")
        (False, False, False)
    """
    if masks == EXACT_MASKS or masks.startswith(DEGRADED_PREFIX):
        return False
    from segaug.masks.resolve import segmenter_gives_label_maps

    return segmenter_gives_label_maps(masks)


def uses_regions(method: str) -> bool:
    """Whether the registered method reads the masks in its loss (``Method.uses_regions``)."""
    from simclr.methods import METHODS

    return bool(getattr(METHODS.get(method), "uses_regions", False))


def plan_runs(s: CompareSettings) -> list[RunSpec]:
    """Every run of a study, seed-major so each seed's rows finish together.

    Every recipe row, sweep rows included, runs with the exact masks and with each of
    :func:`mask_variants`; the anchors, which use no masks, run once. For a method that
    reads the masks in its loss (``uses_regions``: DetCon), the baseline recipe runs with
    each mask variant too. Masks that are label maps (:func:`label_map_masks`) have no
    foreground for a recipe, so they train only such methods, with the baseline recipe.

    Example:
        >>> from simclr.compare.settings import CompareSettings
        >>> runs = plan_runs(CompareSettings(recipes=("thesis",), seeds=(0,)))
        >>> [(r.row, r.kind) for r in runs]
        [('objects alone', 'anchor'), ('simclr', 'baseline'), ('thesis', 'recipe')]
        >>> s = CompareSettings(recipes=("thesis",), seeds=(0,), anchors=False,
        ...                     budgets=(2, 6), segmenter_masks=("classical",))
        >>> [(r.row, r.epochs, r.masks) for r in plan_runs(s)]  # doctest: +NORMALIZE_WHITESPACE
        [('2 ep / thesis', 2, 'gt'), ('2 ep / thesis [classical masks]', 2, 'classical'),
         ('6 ep / thesis', 6, 'gt'), ('6 ep / thesis [classical masks]', 6, 'classical')]
    """
    from simclr.compare.protocols import get_protocol

    Cell = tuple[str, str, str, tuple[tuple[str, Any], ...], str]  # label, kind, recipe, ..

    def cells_of(method: str) -> list[Cell]:
        regions = uses_regions(method)
        variants = [v for v in mask_variants(s) if regions or not label_map_masks(v)]
        cells: list[Cell] = []
        if s.anchors and get_protocol(s.resolved_protocol()).has_anchor:
            cells.append((ANCHOR, "anchor", BASELINE, (), EXACT_MASKS))
        if s.anchors:
            cells.append((BASELINE, "baseline", BASELINE, (), EXACT_MASKS))
            if regions:  # the loss reads the masks: the baseline recipe with each variant
                cells += [(BASELINE + masks_label(v), "recipe", BASELINE, (), v) for v in variants]
        for r in s.recipes:
            if not (r == BASELINE and s.anchors):
                for masks in (EXACT_MASKS, *variants):
                    if r == BASELINE or not label_map_masks(masks):
                        cells.append((r + masks_label(masks), "recipe", r, (), masks))
        for spec in s.sweep:
            recipe, rows = sweep_rows(spec)
            cells += [
                (label + masks_label(masks), "recipe", recipe, params, masks)
                for label, params in rows
                for masks in (EXACT_MASKS, *variants)
                if not label_map_masks(masks)
            ]
        return cells

    method_cells = {m: cells_of(m) for m in s.methods}
    shown = _shown_axes(s)
    seen: set[tuple[str, int]] = set()
    out = []
    for seed in s.seeds:
        for m in s.methods:
            for b in s.batch_axis():
                for e in s.budget_axis():
                    for label, kind, recipe, params, masks in method_cells[m]:
                        row = _row_label(shown, m, b, e, label)
                        if (row, seed) not in seen:
                            seen.add((row, seed))
                            out.append(
                                RunSpec(row, kind, m, recipe, params, seed, label, b, e, masks)
                            )
    return out


def mask_cache_dir(study: Path, masks: str) -> Path:
    """The folder of the study's mask cache of ``RunSpec.masks`` = ``masks``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in masks)
    return study / "masks" / safe


def renders_data(s: CompareSettings) -> bool:
    """Whether the study's dataset renders its images from the settings (exact backgrounds)."""
    from segaug.data import get_dataset_info

    return get_dataset_info(s.dataset).exact_backgrounds


def rendering_datasets() -> list[str]:
    """The registered datasets with exact backgrounds (they render their images)."""
    from segaug.data import DATASET_INFO

    return [name for name, info in DATASET_INFO.items() if info.exact_backgrounds]


def rendered_data_options(s: CompareSettings, neutral: bool = False) -> dict[str, Any]:
    """Factory options of a dataset with exact backgrounds: ``bias``, ``style``, ``data_params``.

    Args:
        s: The settings.
        neutral: The same objects on flat gray (``background="neutral"``, which every
            dataset with exact backgrounds takes) instead of the dataset's backgrounds.

    Example:
        >>> from simclr.compare.settings import preset_settings
        >>> rendered_data_options(preset_settings("photos"), neutral=True)
        {'bias': 0.7, 'background': 'neutral'}
    """
    options: dict[str, Any] = {"bias": s.bias}
    if s.style:
        options["style"] = dict(s.style)
    options.update(s.data_params)
    if neutral:
        options["background"] = "neutral"
    return options


def train_config(s: CompareSettings, spec: RunSpec, run_dir: Path):
    """The ``simclr-train`` config of one run."""
    from simclr.build import check_config
    from simclr.config import Config

    cfg = Config()
    cfg.data.dataset = s.dataset
    cfg.data.image_size = s.image_size
    cfg.data.batch_size = spec.batch_size or s.batch_size
    if renders_data(s):
        cfg.data.num_samples = s.num_samples
        cfg.data.params = rendered_data_options(s, neutral=spec.kind == "anchor")
        if spec.masks != EXACT_MASKS:  # precomputed into the study's mask cache
            cfg.data.masks = str(mask_cache_dir(run_dir.parent.parent, spec.masks))
    else:
        cfg.data.root = s.data_root
        cfg.data.download = s.download
        cfg.data.num_workers = s.num_workers
        cfg.data.num_samples = None
        cfg.data.masks = s.masks
        cfg.data.params = dict(s.data_params)
    cfg.augment.recipe = spec.recipe
    cfg.augment.output_size = s.image_size
    swept = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.params}  # YAML lists
    cfg.augment.params = {"crop_scale": list(s.crop_scale), **swept}
    cfg.model.backbone = s.backbone
    cfg.model.width = s.width
    cfg.method.name = spec.method
    base = {"temperature": s.temperature} if spec.method == "simclr" else {}
    cfg.method.params = {**base, **s.method_params.get(spec.method, {})}
    cfg.optim.name = s.optimizer
    cfg.optim.lr = s.lr
    epochs = spec.epochs or s.epochs
    cfg.optim.warmup_epochs = min(1.0, epochs / 4)
    cfg.train.epochs = epochs
    cfg.train.seed = spec.seed
    cfg.train.device = s.device
    cfg.train.output_dir = str(run_dir)
    cfg.train.progress = False
    cfg.train.online_probe = False
    cfg.train.plots = False
    cfg.train.checkpoint_every = epochs
    check_config(cfg)  # the schema, then names and params against the registries
    return cfg


def _value_label(value: Any) -> str:
    """A sweep value as row labels show it: ``0.2``, ``flat+noise`` for a tuple."""
    return "+".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _split_values(values: str, sep: str = ",") -> list[str]:
    """Split ``"a,[b,c],d"`` at the ``sep`` outside brackets: ``["a", "[b,c]", "d"]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(values):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0:
            break
        if ch == sep and depth == 0:
            parts.append(values[start:i])
            start = i + 1
    if depth != 0:
        raise ValueError(f"unbalanced brackets in {values!r}")
    return [*parts, values[start:]]


def _parse_sweep(spec: str) -> tuple[str, str, list[Any], tuple[tuple[str, Any], ...]]:
    """``parse_sweep``'s recipe, parameter and values, plus the fixed ``(param, value)``."""
    import inspect

    import yaml

    from segaug import recipes

    try:
        words = [w for w in _split_values(spec.strip(), " ") if w]
    except ValueError as err:
        raise ValueError(f"sweep {spec!r}: {err}") from None
    parts: list[str] = []
    for word in words:  # "p=0.2, 0.5": a word after a comma continues the one before it
        if parts and parts[-1].endswith(","):
            parts[-1] += word
        else:
            parts.append(word)
    swept, *fixed_parts = parts or [""]
    head, sep, values = swept.partition("=")
    recipe, dot, param = head.partition(".")
    if not sep or not dot or not values:
        raise ValueError(
            f"sweep: expected 'recipe.param=v1,v2,...', then optional 'param=value' pairs "
            f'held fixed, in one quoted argument ("background_fill.p=0.5 swap=1.0"); got '
            f"{spec!r}"
        )
    if recipe not in recipes.names():
        raise ValueError(
            f"sweep {spec!r}: unknown recipe {recipe!r}; expected one of "
            f"{', '.join(recipes.names())}"
        )
    accepted = inspect.signature(recipes.RECIPES.get(recipe)).parameters
    options = [p for p in accepted if p != "output_size"]

    def read(name: str, text: str) -> list[Any]:
        if name not in options:
            raise ValueError(
                f"sweep {spec!r}: recipe {recipe!r} has no parameter {name!r}; expected one "
                f"of {', '.join(options)}"
            )
        try:
            parsed = [yaml.safe_load(v) for v in _split_values(text)]
        except (ValueError, yaml.YAMLError) as err:
            raise ValueError(f"sweep {spec!r}: cannot read the values ({err})") from None
        if any(v is None for v in parsed):
            raise ValueError(f"sweep {spec!r}: expected no empty value between the commas")
        return [tuple(v) if isinstance(v, list) else v for v in parsed]

    swept_values = read(param, values)
    fixed: list[tuple[str, Any]] = []
    for part in fixed_parts:
        name, eq, text = part.partition("=")
        if not eq or not text or "." in name:
            raise ValueError(
                f"sweep {spec!r}: expected 'param=value' after the swept parameter, got {part!r}"
            )
        one = read(name, text)
        if len(one) != 1:
            raise ValueError(
                f"sweep {spec!r}: a fixed parameter takes one value, got {name}={text}"
            )
        if name == param or name in dict(fixed):
            raise ValueError(f"sweep {spec!r}: parameter {name!r} given twice")
        fixed.append((name, one[0]))
    return recipe, param, swept_values, tuple(fixed)


def parse_sweep(spec: str) -> tuple[str, str, list[Any]]:
    """``"recipe.param=v1,v2"`` -> ``(recipe, param, [v1, v2])`` (values as YAML).

    A value in brackets is a list, for the recipe parameters that take a tuple
    (``background_fill.modes=[flat,noise],[flat]``); it is passed on as a tuple. Further
    ``param=value`` pairs after a space hold other parameters fixed in every row of the
    sweep (``"background_fill.p=0.2,0.5 swap=1.0"``); :func:`sweep_rows` gives them.

    Example:
        >>> parse_sweep("background_fill.p=0.2,0.8")
        ('background_fill', 'p', [0.2, 0.8])
        >>> parse_sweep("background_fill.p=0.2, 0.8 swap=1.0")  # spaces after commas are fine
        ('background_fill', 'p', [0.2, 0.8])
        >>> parse_sweep("background_fill.modes=[flat,noise],[flat]")
        ('background_fill', 'modes', [('flat', 'noise'), ('flat',)])
    """
    recipe, param, values, _ = _parse_sweep(spec)
    return recipe, param, values


def sweep_rows(spec: str) -> tuple[str, list[tuple[str, tuple[tuple[str, Any], ...]]]]:
    """The recipe of a sweep and, per swept value, its row label and recipe parameters.

    Example:
        >>> sweep_rows("background_fill.p=0.2,0.8")
        ('background_fill', [('background_fill p=0.2', (('p', 0.2),)), \
('background_fill p=0.8', (('p', 0.8),))])
        >>> sweep_rows("background_fill.p=0.5 swap=1.0")
        ('background_fill', [('background_fill p=0.5 swap=1.0', (('p', 0.5), ('swap', 1.0)))])
    """
    recipe, param, values, fixed = _parse_sweep(spec)
    rows = []
    for v in values:
        params = ((param, v), *fixed)
        label = " ".join([recipe, *(f"{k}={_value_label(x)}" for k, x in params)])
        rows.append((label, params))
    return recipe, rows
