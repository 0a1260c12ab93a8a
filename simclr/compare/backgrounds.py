"""The ``backgrounds`` protocol: a calibrated measurement of reliance on the background.

On a dataset with exact backgrounds (:attr:`segaug.data.DatasetInfo.exact_backgrounds`),
whose test images can be recombined, every frozen encoder is measured with
:func:`simclr.evaluate.background.background_metrics`:

* the **backgrounds challenge** (Xiao et al. 2020): Original, Only-FG, Only-BG,
  Mixed-Same, Mixed-Rand and BG-Gap, through one linear probe fitted on the biased
  training set (backgrounds follow the class with probability ``bias``);
* **object info** and **background info**: linear probes fitted on one half of a test
  split whose backgrounds are random and scored on the other half; they predict the
  class or the background family and cannot lean on a class-background correlation.

The study gets the **objects alone** upper anchor (the baseline recipe pretrained on the
same objects on neutral gray, its object info measured on such images) and the **gap
closed** of every recipe: (recipe - baseline) / (objects alone - baseline) on object info.

References:
    - [0]: Xiao, Engstrom, Ilyas, Madry, Noise or Signal: The Role of Image Backgrounds
      in Object Recognition, ICLR 2021, https://arxiv.org/abs/2006.09994

Example:
    >>> p = BackgroundsProtocol()
    >>> p.paired_keys, p.headline_keys
    (('object_info', 'object_info_neutral', 'mixed_rand', 'bg_gap'), ('original', 'knn_original'))
    >>> run = {"kind": "anchor", "challenge": {"original": 0.9}, "object_info": 0.5,
    ...        "object_info_neutral": 0.8}
    >>> p.value(run, "original"), p.value(run, "object_info")
    (0.9, 0.8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from simclr.compare.plan import EXACT_MASKS, rendered_data_options
from simclr.compare.protocols import Protocol, register_protocol
from simclr.compare.settings import KNN_K, KNN_TEMPERATURE, L2_GRID, PROBE_FIT
from simclr.evaluate.background import CHALLENGE_SPLITS
from simclr.evaluate.format import markdown_header, markdown_row, percent, percent_stat

if TYPE_CHECKING:
    from segaug.data import DatasetInfo
    from simclr.compare.settings import CompareSettings

__all__ = ["BackgroundsProtocol", "build_eval_sets", "split_images"]

ANCHOR_ROOM = 0.10
"""Least object-info margin of the objects-alone anchor over the best floor (10 points)."""
ANCHOR_STD = 0.02
"""Largest seed std of the anchor's object info (2 points)."""
RESOLUTION = 0.03
"""Largest pooled 95% half-width of the paired object-info differences (3 points)."""

TABLE_KEYS = ("original", "mixed_same", "mixed_rand", "bg_gap", "only_fg", "only_bg")
"""Challenge columns of the results table, in order."""


def _challenge_cells(entry: dict[str, Any]) -> list[str]:
    """The challenge columns of a results row (mean ± std in percent)."""
    return [percent_stat(entry[k]) for k in TABLE_KEYS]


def _tensors(ds: Any, n: int) -> tuple[torch.Tensor, ...]:
    """(images uint8 N3HW, masks uint8 N1HW, labels, families, backgrounds N3HW)."""
    import numpy as np

    idx = np.arange(n)
    images, masks, labels = ds.get_batch(idx)
    backgrounds = ds.get_backgrounds(idx)

    def chw(a: Any) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()

    return (
        chw(images),
        torch.from_numpy(masks)[:, None].contiguous(),
        torch.from_numpy(labels),
        torch.from_numpy(ds.background_families[:n].copy()),
        chw(backgrounds),
    )


def _split_dataset(s: CompareSettings, name: str, n: int, neutral: bool = False) -> Any:
    """``n`` images of split ``name`` of the study's dataset (on gray with ``neutral``)."""
    from segaug.data import build_dataset

    return build_dataset(
        s.dataset,
        None,
        split=name,
        size=s.image_size,
        num_samples=n,
        **rendered_data_options(s, neutral),
    )


def split_images(
    s: CompareSettings, name: str, n: int, neutral: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images of split ``name`` and their labels, as the probes see them.

    The images of ``split_images(s, "test", s.eval_images)`` are :func:`build_eval_sets`'s
    ``random`` set, and with ``neutral=True`` its ``neutral`` set (the same objects on gray).

    Shape:
        - images: :math:`(n, 3, S, S)` uint8 with ``S = s.image_size``; labels: :math:`(n,)`.
    """
    images, _, labels, _, _ = _tensors(_split_dataset(s, name, n, neutral), n)
    return images, labels


def build_eval_sets(s: CompareSettings) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every labelled image set the probes need, as ``{name: (uint8 images, labels)}``.

    ``train``/``val``: biased (the challenge probe's fit and L2 choice); the five
    challenge variants of ``test_biased``; ``random`` (and its ``random_families``) and
    ``neutral``: the random-background test split, with its backgrounds and on gray.

    Shape:
        - every image tensor: :math:`(N, 3, S, S)` uint8 with ``S = s.image_size``;
          labels: :math:`(N,)` int.
    """
    from simclr.evaluate.background import background_challenge

    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
        "train": split_images(s, "train", s.probe_train),
        "val": split_images(s, "val", s.probe_val),
    }
    n = s.challenge_images
    im, m, y, fam, bg = _tensors(_split_dataset(s, "test_biased", n), n)
    for name, images in background_challenge(im, m, bg, y, fam, seed=0).items():
        out[name] = (images, y)
    n = s.eval_images
    im, _, y, fam, _ = _tensors(_split_dataset(s, "test", n), n)
    out["random"] = (im, y)
    out["random_families"] = (im, fam)
    out["neutral"] = split_images(s, "test", n, neutral=True)
    return out


@register_protocol
class BackgroundsProtocol(Protocol):
    """The backgrounds challenge, object and background info, and the objects-alone anchor."""

    name = "backgrounds"
    description = (
        "the backgrounds challenge, anchors and object/background info (datasets with "
        "exact backgrounds, e.g. synthetic)"
    )
    requirement = "exact masks and backgrounds"
    auto_rank = 0
    has_anchor = True
    metric_keys = (
        *CHALLENGE_SPLITS,
        "bg_gap",
        "object_info",
        "bg_info",
        "object_info_neutral",
        "object_info_on_backgrounds",
        "knn_original",
    )
    paired_keys = ("object_info", "object_info_neutral", "mixed_rand", "bg_gap")
    headline_keys = ("original", "knn_original")
    headline_split = "Original"
    plot_key = "object_info"
    plot_note = " (anchor: on gray)"
    gap_key = "object_info"
    key_names = {
        "original": "Original",
        "mixed_same": "Mixed-Same",
        "mixed_rand": "Mixed-Rand",
        "bg_gap": "BG-Gap",
        "only_fg": "Only-FG",
        "only_bg": "Only-BG",
        "object_info": "object info",
        "object_info_neutral": "object info on gray",
        "bg_info": "bg info",
    }
    column_notes = {
        "original": "test images as they are (backgrounds follow the class as in training)",
        "mixed_same": "object on the background of another image of its class's family",
        "mixed_rand": "object on a background of a random family",
        "bg_gap": "Mixed-Same minus Mixed-Rand: accuracy owed to a matching background "
        "(lower = less reliance)",
        "only_fg": "object alone on neutral gray",
        "only_bg": "background alone, object removed (higher = the probe reads the background)",
        "object_info": "probe fitted on half of a random-background split, scored on the "
        "other half: object information in the features (higher is better)",
        "bg_info": "the same probe predicting the background family (lower = less background "
        "information; chance 10%)",
        "gap_closed": "(recipe - baseline) / (objects alone - baseline) on object info",
    }

    def supports(self, info: DatasetInfo) -> bool:
        return info.exact_backgrounds

    def prepare(
        self, settings: CompareSettings
    ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], int]:
        """The labelled image sets (:func:`build_eval_sets`) and the number of classes."""
        from segaug.data import build_dataset

        train = build_dataset(
            settings.dataset, None, split="train", size=settings.image_size, num_samples=1,
            **rendered_data_options(settings),
        )  # fmt: skip
        return build_eval_sets(settings), len(train.classes)

    def evaluate(
        self,
        encoder: nn.Module,
        settings: CompareSettings,
        mean: list[float],
        std: list[float],
        prepared: Any,
    ) -> dict[str, Any]:
        from simclr.evaluate.background import background_metrics

        sets, num_classes = prepared
        weight = next(encoder.parameters(), None)  # features where the encoder lives
        return background_metrics(
            encoder,
            sets,
            mean,
            std,
            num_classes,
            L2_GRID,
            PROBE_FIT,
            KNN_K,
            KNN_TEMPERATURE,
            device=weight.device if weight is not None else "cpu",
        )

    def value(self, run: dict[str, Any], key: str) -> float:
        if key in CHALLENGE_SPLITS and "challenge" in run:
            return run["challenge"][key]
        if key == "object_info" and run.get("kind") == "anchor":
            return run["object_info_neutral"]  # the anchor is probed on objects alone
        if key == "object_info_on_backgrounds":  # every row, the anchor too
            return run["object_info"]
        return run[key]

    def calibration_checks(
        self,
        method: str,
        anchor: dict[str, Any] | None,
        baseline: dict[str, Any] | None,
        floors: dict[str, dict[str, Any]],
        recipe_rows: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        """What the conclusions need: room above the floors, a stable anchor, resolution.

        * **room**: the objects-alone anchor's object info at least
          :data:`ANCHOR_ROOM` above the best floor (pretraining taught the encoder
          object information a random one lacks, so there is a gap to close);
        * the anchor's seed std at most :data:`ANCHOR_STD` (gap closed divides by it);
        * **resolution**: the 95% half-width of the paired object-info differences,
          pooled over the recipe rows (:func:`simclr.evaluate.stats.pooled_half_width`),
          at most :data:`RESOLUTION`: the seeds resolve an effect of that size. The
          paired design cancels the seed's shared effect on every row, so the baseline's
          own spread does not enter.
        """
        from simclr.evaluate.stats import pooled_half_width

        checks = []
        if anchor is not None and floors:
            best_floor = max(f["object_info_neutral"]["mean"] for f in floors.values())
            margin = anchor["object_info"]["mean"] - best_floor
            checks.append(
                {
                    "check": f"{method}: objects-alone object info >= {100 * ANCHOR_ROOM:.0f} "
                    "points above both floors (same gray-background images)",
                    "value": f"{100 * anchor['object_info']['mean']:.1f} vs best floor "
                    f"{100 * best_floor:.1f}: {100 * margin:+.1f}",
                    "ok": margin >= ANCHOR_ROOM,
                }
            )
        if anchor is not None:
            checks.append(
                {
                    "check": f"{method}: objects-alone object info seed std <= "
                    f"{100 * ANCHOR_STD:.0f} points",
                    "value": f"{100 * anchor['object_info']['std']:.1f}",
                    "ok": anchor["object_info"]["std"] <= ANCHOR_STD,
                }
            )
        diffs = [list(r["paired"]["object_info"]["values"]) for r in recipe_rows if "paired" in r]
        half, df = pooled_half_width(diffs)
        if df > 0:
            checks.append(
                {
                    "check": f"{method}: paired object-info differences resolve a "
                    f"{100 * RESOLUTION:.0f}-point effect (95% half-width pooled over "
                    "recipe rows)",
                    "value": f"±{100 * half:.1f} ({df} degrees of freedom)",
                    "ok": half <= RESOLUTION,
                }
            )
        return checks

    def report_sections(self, summary: dict[str, Any]) -> list[str]:
        """**Where the gap lies**: the gap split into what the encoder lost and clutter.

        ``anchor_gray - baseline_backgrounds`` is the sum of
        ``anchor_gray - baseline_gray`` (the **encoder** part: what pretraining among the
        backgrounds cost the encoder's knowledge of the objects, read without clutter) and
        ``baseline_gray - baseline_backgrounds`` (the **clutter** part: what the test
        backgrounds cost a probe on this encoder). A recipe closes the first by teaching
        the objects, the second only by making the encoder ignore backgrounds at test.

        Example:
            >>> stat = lambda m: {"mean": m, "std": 0.0, "values": [m]}
            >>> row = lambda kind, bg, gray: {"kind": kind, "method": "simclr",
            ...     "batch_size": 128, "object_info_on_backgrounds": stat(bg),
            ...     "object_info_neutral": stat(gray)}
            >>> rows = {"a": row("anchor", 0.25, 0.40), "b": row("baseline", 0.22, 0.37)}
            >>> summary = {"anchors": {"simclr bs 128": {"anchor": "a", "baseline": "b"}},
            ...            "rows": rows}
            >>> BackgroundsProtocol().report_sections(summary)[5]
            '- simclr: gap 18.0 points = encoder 3.0 + clutter 15.0 (17% encoder)'
        """
        parts = []
        for group, refs in summary["anchors"].items():
            anchor = summary["rows"].get(refs.get("anchor", ""))
            base = summary["rows"].get(refs.get("baseline", ""))
            if anchor is None or base is None:
                continue
            a_gray = anchor["object_info_neutral"]["mean"]
            b_gray = base["object_info_neutral"]["mean"]
            b_bg = base["object_info_on_backgrounds"]["mean"]
            gap, encoder, clutter = a_gray - b_bg, a_gray - b_gray, b_gray - b_bg
            share = f" ({100 * encoder / gap:.0f}% encoder)" if gap > 0 else ""
            name = group if len(summary["anchors"]) > 1 else anchor["method"]
            parts.append(
                f"- {name}: gap {100 * gap:.1f} points = encoder {100 * encoder:.1f} + "
                f"clutter {100 * clutter:.1f}{share}"
            )
        if not parts:
            return []
        lines = [
            "",
            "## Where the gap lies",
            "",
            "The gap from the baseline to the objects-alone anchor has two parts. "
            "**Encoder**: what pretraining among the backgrounds cost the encoder's "
            "knowledge of the objects (anchor minus baseline, both probed on the test "
            "objects on gray). **Clutter**: what the test backgrounds cost a probe on the "
            "baseline's features (the baseline on gray minus on the backgrounds). A recipe "
            "closes the encoder part by teaching the objects, and the clutter part only by "
            "making the encoder ignore the backgrounds at test; its paired gain on gray is "
            "in the paired table.",
            "",
            *parts,
            "",
            *markdown_header(
                ["row", "object info on the backgrounds", "on gray", "lost to the backgrounds"]
            ),
        ]
        for name, r in summary["rows"].items():
            if r.get("masks", EXACT_MASKS) != EXACT_MASKS:
                continue
            on_bg, gray = r["object_info_on_backgrounds"], r["object_info_neutral"]
            lost = percent(gray["mean"] - on_bg["mean"])
            lines.append(markdown_row([name, percent_stat(on_bg), percent_stat(gray), lost]))
        return lines

    def title(self, settings: CompareSettings) -> str:
        return "Background reliance"

    def protocol_lines(self, settings: CompareSettings, report: dict[str, Any]) -> list[str]:
        s = settings
        return [
            *super().protocol_lines(settings, report),
            "**Probes.** Frozen features, multinomial logistic regression (L-BFGS). The "
            f"challenge probe is fitted on {s.probe_train} biased training images, its L2 "
            f"chosen on {s.probe_val} biased validation images, then refit on both. Object "
            f"info and background info: probes fitted on half of {s.eval_images} "
            "random-background test images, scored on the other half. The objects-alone row "
            "is probed on the same test objects on gray. Each challenge variant has "
            f"{s.challenge_images} images.",
        ]

    def result_columns(self) -> list[str]:
        return [*(self.key_names[k] for k in TABLE_KEYS), "object info", "bg info", "gap closed"]

    def row_cells(self, row: dict[str, Any]) -> list[str]:
        obj = percent_stat(row["object_info"]) + (" (gray)" if row["kind"] == "anchor" else "")
        gap = percent(row.get("gap_closed")) if row["kind"] == "recipe" else ""
        return [*_challenge_cells(row), obj, percent_stat(row["bg_info"]), gap]

    def floor_cells(self, floor: dict[str, Any]) -> list[str]:
        gray = percent_stat(floor["object_info_neutral"])
        obj = f"{percent_stat(floor['object_info'])} (gray: {gray})"
        return [*_challenge_cells(floor), obj, percent_stat(floor["bg_info"]), ""]
