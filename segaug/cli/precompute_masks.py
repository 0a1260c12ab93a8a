"""``segaug-precompute-masks``: compute foreground masks once, store them in a cache.

Usage::

    segaug-precompute-masks SRC --out CACHE [--segmenter classical|deeplabv3|sam|felzenszwalb]
        [--checkpoint PATH] [--device cpu|cuda] [--batch-size N] [--workers N]
        [--size S] [--shard i/n] [--option KEY=VALUE ...]
    segaug-precompute-masks SRC --out CACHE --source files:MASK_DIR[?foreground=1,3]
    segaug-precompute-masks DATASET --out CACHE --source gt
    segaug-precompute-masks --stats CACHE
    segaug-precompute-masks --compact CACHE
    segaug-precompute-masks --verify CACHE

``SRC`` is an image folder (searched recursively) or a dataset name of
``segaug.data.registry`` (with ``--data-root``, ``--split``). ``--source`` looks masks
up instead of computing them: ``gt`` (a dataset's annotations; ``--segmenter gt`` still
works) or ``files:MASK_DIR`` (the annotation file of ``SRC/a/b.jpg`` is
``MASK_DIR/a/b.png``; ``?foreground=1,3`` for Oxford Pets trimaps,
``?background=0,255`` for VOC classes). The exit status is 0 when
the run finished, even if some files could not be read (they are listed in the
summary); 1 when the run itself failed; 2 for invalid arguments.

Example:
    >>> main(["--stats", "masks/"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from segaug.errors import USER_ERRORS, one_line_warnings, report_error
from segaug.helptext import DefaultsHelpFormatter


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--option must be KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segaug-precompute-masks``."""
    p = argparse.ArgumentParser(
        prog="segaug-precompute-masks",
        description="Precompute foreground masks into a segaug mask cache (resumable).",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "src",
        nargs="?",
        help="image folder (recursive) or dataset name (required unless --stats, --compact "
        "or --verify)",
    )
    p.add_argument("--out", help="cache directory (required with SRC)")
    p.add_argument(
        "--segmenter",
        default=None,
        help="classical (default), deeplabv3, sam, felzenszwalb (label maps); NAME?key=value "
        "for options (computed from pixels; 'gt' = --source gt)",
    )
    p.add_argument(
        "--source",
        metavar="SPEC",
        help="look masks up instead: 'gt' (a dataset's annotations) or "
        "'files:MASK_DIR[?foreground=1,3|background=0,255]' (one file per image of SRC) "
        "(default: none, the masks are computed by --segmenter)",
    )
    p.add_argument(
        "--checkpoint",
        help="weights file for deeplabv3 / sam (default: none; deeplabv3 then uses "
        "torchvision's downloaded weights, sam needs one)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=16, help="images per segmenter call")
    p.add_argument("--workers", type=int, default=2, help="image-reading worker processes")
    p.add_argument(
        "--size",
        type=int,
        default=224,
        help="shorter side masks are computed at; 0 = original size",
    )
    p.add_argument(
        "--shard",
        help="i/n: process shard i of n (default: torchrun's RANK/WORLD_SIZE, else all of it)",
    )
    p.add_argument("--chunk-size", type=int, default=256, help="masks per cache file")
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="segmenter option, e.g. backbone=mobilenet_v3_large, margin=0.05, mode=auto "
        "(repeatable; default: none, the segmenter's own defaults)",
    )
    p.add_argument("--split", default="train", help="split of a named dataset")
    p.add_argument(
        "--data-root",
        help="root folder of a named dataset (default: none; datasets read from disk need it)",
    )
    p.add_argument("--download", action="store_true", help="let a named dataset download itself")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--stats", metavar="CACHE", help="print the summary of an existing cache and exit"
    )
    p.add_argument("--compact", metavar="CACHE", help="rewrite a cache into one chunk and exit")
    p.add_argument(
        "--verify",
        metavar="CACHE",
        help="check every mask against its checksum, list the corrupt ones and exit "
        "(status 1 when any is corrupt)",
    )
    return p  # fmt: skip


@one_line_warnings("segaug-precompute-masks")
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    from segaug.masks.cache import MaskCache
    from segaug.masks.precompute import (
        PRECOMPUTE_KINDS,
        cache_report,
        precompute_masks,
        verify_cache,
    )
    from segaug.masks.resolve import resolve_masks

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.stats:
            print(cache_report(args.stats))
            return 0
        if args.verify:
            checked, bad = verify_cache(args.verify)
            if not bad:
                print(f"verified {args.verify}: {checked} masks, all pass their checksums")
                return 0
            print(f"verified {args.verify}: {len(bad)} of {checked} masks are corrupt:")
            for key, chunk in bad[:50]:
                print(f"  {key}  (in {chunk})")
            if len(bad) > 50:
                print(f"  ... and {len(bad) - 50} more (all listed in {args.verify}/verified.json)")
            print(
                f"repair: segaug-precompute-masks SRC --out {args.verify} (recomputes exactly "
                "the corrupt and missing masks)"
            )
            return 1
        if args.compact:
            kept = MaskCache(args.compact).compact()
            print(f"compacted {args.compact}: {kept} masks in one chunk")
            return 0
        if not args.src or not args.out:
            parser.error("SRC and --out are required (or use --stats CACHE)")
        if args.source is not None and args.segmenter is not None:
            parser.error("give --segmenter NAME or --source SPEC, not both")
        flag = "--source" if args.source is not None else "--segmenter"
        # parsed before SRC is read, so a bad spec fails at once and names its flag
        masks = resolve_masks(
            args.source or args.segmenter or "classical",
            argument=flag,
            kinds=PRECOMPUTE_KINDS,
            build=False,
        )
        summary = precompute_masks(
            args.src,
            args.out,
            masks,
            checkpoint=args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            workers=args.workers,
            size=args.size or None,
            shard=args.shard,
            chunk_size=args.chunk_size,
            split=args.split,
            data_root=args.data_root,
            download=args.download,
            segmenter_options=dict(args.option),
            progress=not args.no_progress,
        )
    except USER_ERRORS as err:  # bad value, missing dataset/file/weights: one line, 2
        return report_error("segaug-precompute-masks", err)
    except Exception as err:  # noqa: BLE001 - the run failed: say why, exit 1
        print(f"segaug-precompute-masks: run failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(summary.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
