"""The run plan of a study: its rows and seeds (:class:`RunSpec`) and each run's training config.

A study crosses rows (the anchors its protocol asks for, the baseline, every recipe and
sweep value) with methods, batch sizes and seeds, seed-major so each seed's rows finish
together. Each run is one ``simclr-train`` config (:func:`train_config`).

The data of a run depends on what the dataset can do, not on its name: a dataset with
exact backgrounds (:attr:`segaug.data.DatasetInfo.exact_backgrounds`) renders its
images from the settings (``num_samples``, ``bias``, ``style``); any other is read from
``data_root`` with ``masks`` and ``data_params``.

Example:
    >>> from simclr.compare.settings import CompareSettings
    >>> s = CompareSettings(recipes=("thesis",), methods=("simclr", "byol"), seeds=(0,))
    >>> [r.row for r in plan_runs(s)][:3]
    ['simclr / objects alone', 'simclr / simclr', 'simclr / thesis']
    >>> train_config(s, plan_runs(s)[0], Path("runs/x")).data.params["style"]["background"]
    'neutral'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simclr.compare.settings import CompareSettings

__all__ = [
    "parse_sweep",
    "ANCHOR",
    "BASELINE",
    "RunSpec",
    "plan_runs",
    "renders_data",
    "rendered_data_options",
    "rendering_datasets",
    "train_config",
]

ANCHOR = "objects alone"
"""Row of the upper anchor: the baseline recipe pretrained on objects on neutral gray."""
BASELINE = "simclr"
"""Recipe (and row) of the baseline every other row is paired with."""


@dataclass(frozen=True)
class RunSpec:
    """One pretraining run: a row of the report at one seed."""

    row: str
    kind: str  # "anchor", "baseline" or "recipe"
    method: str
    recipe: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    label: str = ""  # the recipe part of the row (without method and batch size)
    batch_size: int = 0  # 0: the settings' batch_size

    @property
    def name(self) -> str:
        """Folder name of the run (stable, file-system safe)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.row)
        return f"{safe}-seed{self.seed}"


def _row_label(s: CompareSettings, method: str, batch: int, label: str) -> str:
    parts = [method] if len(s.methods) > 1 else []
    parts += [f"bs {batch}"] if len(s.batch_sizes) > 1 else []
    return " / ".join([*parts, label])


def plan_runs(s: CompareSettings) -> list[RunSpec]:
    """Every run of a study, seed-major so each seed's rows finish together.

    Example:
        >>> from simclr.compare.settings import CompareSettings
        >>> runs = plan_runs(CompareSettings(recipes=("thesis",), seeds=(0,)))
        >>> [(r.row, r.kind) for r in runs]
        [('objects alone', 'anchor'), ('simclr', 'baseline'), ('thesis', 'recipe')]
    """
    from simclr.compare.protocols import get_protocol

    cells: list[tuple[str, str, str, tuple[tuple[str, Any], ...]]] = []  # label, kind, recipe
    if s.anchors and get_protocol(s.resolved_protocol()).has_anchor:
        cells.append((ANCHOR, "anchor", BASELINE, ()))
    if s.anchors:
        cells.append((BASELINE, "baseline", BASELINE, ()))
    for r in s.recipes:
        if not (r == BASELINE and s.anchors):
            cells.append((r, "recipe", r, ()))
    for spec in s.sweep:
        recipe, param, values = parse_sweep(spec)
        cells += [(f"{recipe} {param}={v}", "recipe", recipe, ((param, v),)) for v in values]
    seen: set[tuple[str, int]] = set()
    out = []
    for seed in s.seeds:
        for m in s.methods:
            for b in s.batch_axis():
                for label, kind, recipe, params in cells:
                    row = _row_label(s, m, b, label)
                    if (row, seed) not in seen:
                        seen.add((row, seed))
                        out.append(RunSpec(row, kind, m, recipe, params, seed, label, b))
    return out


def renders_data(s: CompareSettings) -> bool:
    """Whether the study's dataset renders its images from the settings (exact backgrounds)."""
    from segaug.data import get_dataset_info

    return get_dataset_info(s.dataset).exact_backgrounds


def rendering_datasets() -> list[str]:
    """The registered datasets with exact backgrounds (they render their images)."""
    from segaug.data import DATASET_INFO

    return [name for name, info in DATASET_INFO.items() if info.exact_backgrounds]


def rendered_data_options(s: CompareSettings, background: str | None = None) -> dict[str, Any]:
    """Factory options of a dataset with exact backgrounds: ``bias`` and ``style``.

    Args:
        s: The settings.
        background: The style's background (``"neutral"``: objects on gray); ``None``
            leaves ``s.style`` as it is.
    """
    style = dict(s.style) if background is None else {**s.style, "background": background}
    return {"bias": s.bias, "style": style}


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
        background = "neutral" if spec.kind == "anchor" else "texture"
        cfg.data.params = rendered_data_options(s, background)
    else:
        cfg.data.root = s.data_root
        cfg.data.download = s.download
        cfg.data.num_workers = s.num_workers
        cfg.data.num_samples = None
        cfg.data.masks = s.masks
        cfg.data.params = dict(s.data_params)
    cfg.augment.recipe = spec.recipe
    cfg.augment.output_size = s.image_size
    cfg.augment.params = {"crop_scale": list(s.crop_scale), **dict(spec.params)}
    cfg.model.backbone = s.backbone
    cfg.model.width = s.width
    cfg.method.name = spec.method
    base = {"temperature": s.temperature} if spec.method == "simclr" else {}
    cfg.method.params = {**base, **s.method_params.get(spec.method, {})}
    cfg.optim.name = s.optimizer
    cfg.optim.lr = s.lr
    cfg.optim.warmup_epochs = min(1.0, s.epochs / 4)
    cfg.train.epochs = s.epochs
    cfg.train.seed = spec.seed
    cfg.train.device = s.device
    cfg.train.output_dir = str(run_dir)
    cfg.train.progress = False
    cfg.train.online_probe = False
    cfg.train.plots = False
    cfg.train.checkpoint_every = s.epochs
    check_config(cfg)  # the schema, then names and params against the registries
    return cfg


def parse_sweep(spec: str) -> tuple[str, str, list[Any]]:
    """``"recipe.param=v1,v2"`` -> ``(recipe, param, [v1, v2])`` (values as YAML scalars).

    Example:
        >>> parse_sweep("background_fill.p=0.2,0.8")
        ('background_fill', 'p', [0.2, 0.8])
    """
    import inspect

    import yaml

    from segaug import recipes

    head, sep, values = spec.partition("=")
    recipe, dot, param = head.partition(".")
    if not sep or not dot or not values:
        raise ValueError(f"sweep: expected 'recipe.param=v1,v2,...', got {spec!r}")
    if recipe not in recipes.names():
        raise ValueError(
            f"sweep {spec!r}: unknown recipe {recipe!r}; expected one of "
            f"{', '.join(recipes.names())}"
        )
    accepted = inspect.signature(recipes.RECIPES.get(recipe)).parameters
    if param not in accepted or param == "output_size":
        options = [p for p in accepted if p != "output_size"]
        raise ValueError(
            f"sweep {spec!r}: recipe {recipe!r} has no parameter {param!r}; expected one of "
            f"{', '.join(options)}"
        )
    return recipe, param, [yaml.safe_load(v) for v in values.split(",")]
