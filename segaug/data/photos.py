"""ObjectsOnPhotos: real clip-art objects, with exact masks from their alpha, on real photos.

The real-pictures counterpart of :class:`~segaug.data.synthetic.SyntheticShapes`, with
the same interface wherever the backgrounds protocol uses it: an image, its exact mask,
its label, its background alone (:meth:`ObjectsOnPhotos.get_background`), the same
objects on flat gray (``background="neutral"``), the same four splits and the same
class-background bias. The backgrounds challenge of Xiao et al. [0] (Only-FG, Only-BG,
Mixed-Same, Mixed-Rand, :func:`simclr.evaluate.background.background_challenge`) can
therefore be built from it exactly as from the synthetic data.

**Objects.** RGBA cutouts, one folder per class (any depth below it); by default the
clip art of Debian's ``openclipart-png`` under ``/usr/share/openclipart/png``, whose ten
top-level folders that keep at least 100 objects are the classes
(:data:`OPENCLIPART_CLASSES`: 101 to 721 objects each, 2,871 in all, 837 of them test
objects). A pixel belongs to the object when its alpha, after resizing, is at least
:data:`ALPHA_THRESHOLD`; the image shows the cutout's colour there and the background
everywhere else, so the mask is exact. Cutouts that make poor objects are left out
(:data:`FILTER_REASONS`, thresholds below; what each removes from the ten default
folders' 7,272 files in brackets): unreadable files (0), sources over
:data:`MAX_SOURCE_PIXELS` (18), repeated file names within a class, the same icon in
several sizes or themes (628), no opaque pixel (657), an opaque box whose longer side is
under :data:`MIN_OBJECT_SIDE` source pixels (tiny: 1,441), an opaque box filled to
:data:`MAX_BOX_FILL` or more (boxed clip art: flags, cards, photos: 1,118), and thin
drawings (box aspect over :data:`MAX_ASPECT`, or under :data:`MIN_ERODED_SHARE` of the
mask left after a 3x3 erosion at :data:`THIN_TEST_SIDE` px: outlines, line art, text:
539). The objects themselves are split between train and test by a hash of their file
name (:data:`TEST_OBJECT_SHARE` of them test), so the test splits show objects no
training split contains, and every copy of a name falls on the same side in every class.

**Backgrounds.** One photo per background family; by default the twelve nature photos
of Debian's ``mate-backgrounds`` under ``/usr/share/backgrounds/mate/nature`` (sorted by
file name; class ``k`` owns family ``k``, and the photos after the last class are
families no class owns). Each photo is cut in two once: the training splits crop the
left :data:`TRAIN_REGION_SHARE` of its width, the test splits the rest, so no test
background pixel was ever seen in training. A crop is a square whose side is a share
:data:`CROP_SCALE` of the photo's height (at most the narrower region's width, so both
regions give crops of one scale distribution), flipped left-right half the time.

**Scale and position.** The object's mask covers a share of the image drawn
log-uniformly in ``coverage`` (:data:`DEFAULT_COVERAGE`, 20%-50%), less when the
cutout's box cannot grow that large inside the image (wide or sparse drawings); measured
on the default folders, the masks cover 28% of the image on average (5th, 50th and 95th
percentiles 14%, 27%, 45%). The object is flipped left-right half the time and placed
uniformly where its whole box fits.

**Speed.** Each source file is decoded, filtered and pre-resized (to the image size) once
per process and kept in memory, shared by every instance of one folder, side and size;
a sample then costs one small resize of the cutout and one of the photo crop. Building
the first instance of a side over the default folders decodes its share of the 7,272
files in a thread pool (about 30 s for the test side on two busy cores); the later
instances of that side and size reuse them. The memory held is at most
``4 * size**2`` bytes per kept cutout (under 50 MB at 64 px for both sides, about 0.5 GB
at 224 px).

Every sample is drawn from its own ``numpy.random.Generator`` seeded by
``(seed, split, index)``, in a fixed order (family, crop, object, coverage, flip,
position), so a sample can be produced alone, the same seed gives the same pixels, and
the textured and the neutral instance place the same object at the same place.

- [0]: Noise or Signal: The Role of Image Backgrounds in Object Recognition (Xiao et al.),
  2020, https://arxiv.org/abs/2006.09994

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> tmp = Path(tempfile.mkdtemp())
    >>> yy, xx = np.mgrid[:100, :100]
    >>> for c, name in enumerate(["ball", "plate"]):
    ...     (tmp / "objects" / name).mkdir(parents=True)
    ...     for k in range(6):  # "obj3" is a test object, the others train objects
    ...         rgba = np.zeros((100, 100, 4), np.uint8)  # a disc 90 or 70 px wide
    ...         rgba[(yy - 50) ** 2 + (xx - 50) ** 2 < (45 - 10 * c) ** 2] = (200, 40 * k, 90, 255)
    ...         Image.fromarray(rgba).save(tmp / "objects" / name / f"obj{k}.png")
    >>> (tmp / "photos").mkdir()
    >>> for k in range(2):
    ...     photo = np.full((120, 200, 3), 60 + 100 * k, np.uint8)
    ...     Image.fromarray(photo).save(tmp / "photos" / f"photo{k}.png")
    >>> ds = ObjectsOnPhotos(
    ...     "test", size=32, num_samples=8, objects=tmp / "objects", backgrounds=tmp / "photos"
    ... )
    >>> image, label = ds[1]
    >>> image.size, ds.classes[label], ds.get_mask(1).shape, ds.objects[label]
    ((32, 32), 'plate', (32, 32), ('plate/obj3.png',))
    >>> images, masks, labels = ds.get_batch([0, 1, 2])
    >>> images.shape, masks.shape, labels.tolist(), ds.families
    ((3, 32, 32, 3), (3, 32, 32), [0, 1, 0], ['photo0', 'photo1'])
    >>> outside = masks[0] == 0  # the background alone equals the image off the object
    >>> bool((ds.get_background(0)[outside] == images[0][outside]).all())
    True
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from segaug.data.registry import DatasetInfo, _synthetic_pretrain_kwargs, register_dataset
from segaug.data.synthetic import NEUTRAL_GRAY, SPLITS
from segaug.env import worker_threads

__all__ = [
    "ALPHA_THRESHOLD",
    "CROP_SCALE",
    "DEFAULT_BACKGROUNDS",
    "DEFAULT_COVERAGE",
    "DEFAULT_OBJECTS",
    "FILTER_REASONS",
    "MAX_ASPECT",
    "MAX_BOX_FILL",
    "MAX_SOURCE_PIXELS",
    "MIN_ERODED_SHARE",
    "MIN_OBJECT_SIDE",
    "OPENCLIPART_CLASSES",
    "ObjectsOnPhotos",
    "Placement",
    "TEST_OBJECT_SHARE",
    "THIN_TEST_SIDE",
    "TRAIN_REGION_SHARE",
    "compact_copy",
    "count_objects",
]

DEFAULT_OBJECTS = Path("/usr/share/openclipart/png")
"""Where Debian's ``openclipart-png`` installs its RGBA clip art."""
DEFAULT_BACKGROUNDS = Path("/usr/share/backgrounds/mate/nature")
"""Where Debian's ``mate-backgrounds`` installs its nature photos."""
_INSTALL = "apt-get install openclipart-png mate-backgrounds"

OPENCLIPART_CLASSES: tuple[str, ...] = (
    "animals",
    "computer",
    "food",
    "office",
    "people",
    "recreation",
    "shapes",
    "signs_and_symbols",
    "tools",
    "transportation",
)
"""The default classes: the top-level ``openclipart-png`` folders that keep at least 100
objects after the filters (101 for office to 721 for computer; ``python
benchmarks/photos_dataset.py --all-folders`` lists every folder). "unsorted" (113) is
left out, being leftovers and copies of the other folders' files; the next largest,
geography (83), plants (60) and buildings (59), keep fewer than 100."""

ALPHA_THRESHOLD = 128
"""A pixel is on the object when its (resized) alpha is at least this."""
MAX_SOURCE_PIXELS = 25_000_000
"""Sources with more pixels are left out ("huge") without decoding them."""
MIN_OBJECT_SIDE = 64
"""Cutouts whose opaque box has a longer side under this many source pixels are "tiny"."""
MAX_BOX_FILL = 0.95
"""Cutouts whose opaque pixels fill this share of their box or more are "opaque"."""
MAX_ASPECT = 4.0
"""Cutouts whose opaque box is longer than this many times its width are "thin"."""
THIN_TEST_SIDE = 64
"""The thinness test looks at the mask resized to this longer side."""
MIN_ERODED_SHARE = 0.5
"""Cutouts keeping less than this share of their mask after a 3x3 erosion are "thin"."""
TEST_OBJECT_SHARE = 0.3
"""Share of the objects (by a hash of their file name) reserved for the test splits."""
TRAIN_REGION_SHARE = 0.7
"""Training crops come from this left share of each photo, test crops from the rest."""
CROP_SCALE: tuple[float, float] = (0.2, 0.35)
"""(min, max) side of a background crop as a share of its photo's height (uniform)."""
DEFAULT_COVERAGE: tuple[float, float] = (0.2, 0.5)
"""(min, max) share of the image the object's mask covers (log-uniform), by default."""

FILTER_REASONS: tuple[str, ...] = (
    "unreadable",
    "huge",
    "duplicate",
    "empty",
    "tiny",
    "opaque",
    "thin",
)
"""Why a cutout is left out, in the order the checks run (a cutout counts once)."""

_SALT = 0x0B7E_C75A  # separates this dataset's streams from other uses of the same seed
_BIASED_SPLITS = ("train", "val", "test_biased")
_TEST_SPLITS = ("test", "test_biased")  # these use the test objects and test regions
_DEFAULT_NUM_SAMPLES = {"train": 5000, "val": 1000, "test": 1000, "test_biased": 1000}
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
_RENDER_CACHE = 16  # samples kept per instance (image, then mask, then background)


# ---------------------------------------------------------------------------- objects
def _object_side(stem: str) -> str:
    """The side of an object by its file name: "test" for a share TEST_OBJECT_SHARE."""
    return "test" if zlib.crc32(stem.encode("utf-8")) < TEST_OBJECT_SHARE * 2**32 else "train"


def _missing(what: str, folder: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what}: folder '{folder}' not found; `{_INSTALL}` installs the default ones, or "
        f"pass {what}=DIR"
    )


def _class_names(objects: Path, classes: Sequence[str] | None) -> tuple[str, ...]:
    """The class folders: the given names, else the default folder's, else every subfolder."""
    if not objects.is_dir():
        raise _missing("objects", objects)
    if classes is None:
        if objects.resolve() == DEFAULT_OBJECTS.resolve():
            classes = OPENCLIPART_CLASSES
        else:
            classes = sorted(p.name for p in objects.iterdir() if p.is_dir())
    names = tuple(str(c) for c in classes)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"classes must name at least two distinct folders, got {list(names)}")
    for name in names:
        if not (objects / name).is_dir():
            raise ValueError(f"classes: no folder {name!r} under '{objects}'")
    return names


def _png_files(folder: Path) -> list[str]:
    """Every ``.png`` below ``folder`` as a sorted list of posix paths relative to it."""
    out = []
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            if name.lower().endswith(".png"):
                out.append((Path(here) / name).relative_to(folder).as_posix())
    return sorted(out)


def _candidates(objects: Path, name: str, side: str, removed: Counter) -> list[str]:
    """The class's files on ``side`` that pass the checks needing no decoding.

    The checks read the file headers only: readable, at most :data:`MAX_SOURCE_PIXELS`,
    the largest copy of its file name (ties: the first path), and a canvas whose longer
    side reaches :data:`MIN_OBJECT_SIDE`. Paths are relative to ``objects``; the
    removals are added to ``removed``.
    """
    by_stem: dict[str, tuple[int, str, int]] = {}  # stem -> largest copy: pixels, path, side
    for rel in _png_files(objects / name):
        stem = Path(rel).stem
        if _object_side(stem) != side:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(objects / name / rel) as im:
                    width, height = im.size
        except Image.DecompressionBombError:
            removed["huge"] += 1
            continue
        except (OSError, ValueError):
            removed["unreadable"] += 1
            continue
        if width * height > MAX_SOURCE_PIXELS:
            removed["huge"] += 1
            continue
        if stem in by_stem:
            removed["duplicate"] += 1
            if width * height <= by_stem[stem][0]:
                continue
        by_stem[stem] = (width * height, f"{name}/{rel}", max(width, height))
    out = []
    for _, path, longer in by_stem.values():
        if longer < MIN_OBJECT_SIDE:  # its opaque box cannot be larger
            removed["tiny"] += 1
        else:
            out.append(path)
    return sorted(out)


@dataclass(frozen=True)
class _Cutout:
    """A kept object: premultiplied RGBA uint8 cropped to its alpha, longer side ``size``."""

    file: str
    rgba: np.ndarray
    fill: float  # share of its box that is mask (alpha >= ALPHA_THRESHOLD)


def _filter_reason(solid: np.ndarray) -> str | None:
    """Why a cutout with this opaque mask is left out, or ``None`` to keep it."""
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if rows.size == 0:
        return "empty"
    box = solid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    long_side, short_side = max(box.shape), min(box.shape)
    if long_side < MIN_OBJECT_SIDE:
        return "tiny"
    if float(box.mean()) >= MAX_BOX_FILL:
        return "opaque"
    if long_side > MAX_ASPECT * short_side:
        return "thin"
    scale = THIN_TEST_SIDE / long_side
    dims = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    small = cv2.resize(box.astype(np.uint8) * 255, dims, interpolation=cv2.INTER_AREA)
    small = (small >= ALPHA_THRESHOLD).astype(np.uint8)
    kept = int(cv2.erode(small, np.ones((3, 3), np.uint8)).sum())
    if kept < MIN_ERODED_SHARE * max(int(small.sum()), 1):
        return "thin"
    return None


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging when shrinking, bilinear when growing."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    grow = width > image.shape[1] or height > image.shape[0]
    mode = cv2.INTER_LINEAR if grow else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=mode)


def _decode(objects: Path, file: str) -> np.ndarray | None:
    """One cutout as RGBA uint8 (H, W, 4), or ``None`` when it cannot be read."""
    try:
        with Image.open(objects / file) as im:
            return np.asarray(im.convert("RGBA"))
    except (OSError, ValueError):
        return None


def _prepare(objects: Path, file: str, size: int | None) -> tuple[str | None, _Cutout | None]:
    """Decode and filter one cutout; pre-resize it to ``size`` when kept and size is given."""
    rgba = _decode(objects, file)
    if rgba is None:
        return "unreadable", None
    alpha = rgba[..., 3]
    reason = _filter_reason(alpha >= ALPHA_THRESHOLD)
    if reason is not None or size is None:
        return reason, None
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    crop = np.ascontiguousarray(rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    weights = cv2.cvtColor(crop[..., 3], cv2.COLOR_GRAY2RGBA)
    weights[..., 3] = 255
    crop = cv2.multiply(crop, weights, scale=1 / 255)  # premultiplied: no fringes at edges
    scale = size / max(crop.shape[:2])
    width = min(size, max(1, round(crop.shape[1] * scale)))
    height = min(size, max(1, round(crop.shape[0] * scale)))
    stored = _resize(crop, width, height)
    stored.flags.writeable = False
    fill = float((stored[..., 3] >= ALPHA_THRESHOLD).mean())
    if fill == 0.0:  # nothing left at this size
        return "thin", None
    return None, _Cutout(file, stored, fill)


@dataclass(frozen=True)
class _Catalogue:
    cutouts: tuple[tuple[_Cutout, ...], ...]  # per class
    removed: dict[str, int]


@lru_cache(maxsize=4)
def _catalogue(objects: Path, classes: tuple[str, ...], side: str, size: int) -> _Catalogue:
    """The kept cutouts of every class on one side, pre-resized to ``size`` (memoised)."""
    removed: Counter = Counter()
    per_class = []
    with ThreadPoolExecutor(worker_threads()) as pool:
        for name in classes:
            files = _candidates(objects, name, side, removed)
            kept = []
            for reason, cutout in pool.map(lambda f: _prepare(objects, f, size), files):
                if reason is not None:
                    removed[reason] += 1
                elif cutout is not None:
                    kept.append(cutout)
            if not kept:
                raise ValueError(
                    f"objects: class {name!r} has no usable {side} cutout under "
                    f"'{objects / name}' (after the filters {list(FILTER_REASONS)})"
                )
            per_class.append(tuple(kept))
    return _Catalogue(tuple(per_class), {r: removed[r] for r in FILTER_REASONS})


def count_objects(
    objects: str | os.PathLike[str] | None = None, classes: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """How many cutouts of each class the filters keep (per side) and leave out (per reason).

    Decodes every file once (nothing is kept), so it takes as long as building a train
    and a test instance; a class may come out empty here (it would fail the dataset).

    Args:
        objects: The objects folder; ``None``: :data:`DEFAULT_OBJECTS`.
        classes: Class folders; ``None``: :data:`OPENCLIPART_CLASSES` for the default
            folder, else every subfolder.

    Returns:
        ``{class: {"train": int, "test": int, "files": int, "removed": {reason: int}}}``.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("a", "b"):
        ...     (root / name).mkdir()
        ...     Image.fromarray(np.full((80, 80, 4), 255, np.uint8)).save(root / name / "box.png")
        >>> count_objects(root)["a"]["removed"]["opaque"]
        1
    """
    folder = Path(DEFAULT_OBJECTS if objects is None else objects).expanduser()
    out: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(worker_threads()) as pool:
        for name in _class_names(folder, classes):
            removed: Counter = Counter()
            row: dict[str, Any] = {"files": len(_png_files(folder / name))}
            for side in ("train", "test"):
                files = _candidates(folder, name, side, removed)
                reasons = list(pool.map(lambda f: _prepare(folder, f, None)[0], files))
                removed.update(r for r in reasons if r is not None)
                row[side] = sum(r is None for r in reasons)
            row["removed"] = {r: removed[r] for r in FILTER_REASONS}
            out[name] = row
    return out


def _shrink_cutout(rgba: np.ndarray, max_side: int) -> np.ndarray:
    """The cutout cropped to its alpha box, its longer side shrunk to at most ``max_side``.

    The colour is shrunk premultiplied (as the dataset resizes it) and divided back by the
    shrunk alpha, so that transparent pixels' colours do not bleed into the edges.
    """
    alpha = rgba[..., 3]
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    box = rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = max_side / max(box.shape[:2])
    if scale >= 1.0:
        return np.ascontiguousarray(box)
    crop = box.astype(np.float32)
    crop[..., :3] *= crop[..., 3:] / 255.0
    width = max(1, round(crop.shape[1] * scale))
    height = max(1, round(crop.shape[0] * scale))
    small = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    a = small[..., 3:]
    small[..., :3] = np.where(a > 0, small[..., :3] * 255.0 / np.maximum(a, 1e-6), 0.0)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def compact_copy(
    dest: str | os.PathLike[str],
    objects: str | os.PathLike[str] | None = None,
    backgrounds: str | os.PathLike[str] | None = None,
    classes: Sequence[str] | None = None,
    max_side: int = 128,
) -> dict[str, Any]:
    """Copy what the dataset uses into ``dest``: the kept cutouts, shrunk, and the photos.

    For a machine without the Debian packages (a GPU node, a cluster without ``apt``):
    ``dest/objects`` holds, under the same relative paths, only the cutouts the filters
    keep (:data:`FILTER_REASONS`), each cropped to its alpha box and shrunk so that its
    longer side is at most ``max_side`` (never grown); ``dest/backgrounds`` holds the
    photos, byte for byte. ``ObjectsOnPhotos(objects=dest/"objects",
    backgrounds=dest/"backgrounds")`` then keeps the same objects on the same sides (a
    hash of the file name) in the same classes, and draws the same objects, families and
    background crops for every sample (an object's box can differ by a pixel); at image
    sizes up to ``max_side`` the pixels differ from the source's only by the extra
    resizing step (on the default folders: 0.6-0.7 grey levels of mean absolute
    difference at 32 and 64 px, under 0.01 at 128 px; ``benchmarks/photos_dataset.py
    --compact-copy``). A cutout that would fail a filter once shrunk (its opaque box
    drops under :data:`MIN_OBJECT_SIDE`, say) is copied at its full size instead.
    ``dest/compact_copy.json`` records the source folders, the classes and the counts.

    Args:
        dest: A folder that does not exist yet, or is empty.
        objects: The objects folder; ``None``: :data:`DEFAULT_OBJECTS`.
        backgrounds: The photos folder; ``None``: :data:`DEFAULT_BACKGROUNDS`.
        classes: Class folders to copy; ``None``: :data:`OPENCLIPART_CLASSES` for the
            default folder, else every subfolder. The copy's classes are its subfolders,
            in sorted order: pass the same ``classes`` to the dataset for another order.
        max_side: Longer side of a copied cutout, pixels; at least :data:`MIN_OBJECT_SIDE`.
            Renders up to this image size are served without growing a cutout.

    Returns:
        ``{"objects": {class: {"train": int, "test": int}}, "photos": int,
        "full_size": int, "bytes": int, "max_side": int}``: the kept cutouts per class
        and side, the photos copied, the cutouts copied at full size, and the copy's size.

    Raises:
        ValueError: When ``dest`` is a non-empty folder or a file, or ``max_side`` is
            out of range.
        FileNotFoundError: When a source folder does not exist.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from PIL import Image
        >>> src = Path(tempfile.mkdtemp())
        >>> yy, xx = np.mgrid[:300, :300]
        >>> for name in ("a", "b"):
        ...     (src / "objects" / name).mkdir(parents=True)
        ...     for k in range(4):  # discs 280 px wide; "obj3" is a test object
        ...         rgba = np.zeros((300, 300, 4), np.uint8)
        ...         rgba[(yy - 150) ** 2 + (xx - 150) ** 2 < 140**2] = (200, 60 * k, 90, 255)
        ...         Image.fromarray(rgba).save(src / "objects" / name / f"obj{k}.png")
        >>> (src / "photos").mkdir()
        >>> for k in range(2):
        ...     photo = np.full((120, 200, 3), 90 * k, np.uint8)
        ...     Image.fromarray(photo).save(src / "photos" / f"p{k}.png")
        >>> out = compact_copy(src / "copy", src / "objects", src / "photos", max_side=96)
        >>> out["objects"]["a"], out["photos"], out["full_size"]
        ({'train': 3, 'test': 1}, 2, 0)
        >>> Image.open(src / "copy" / "objects" / "a" / "obj0.png").size
        (96, 96)
    """
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < MIN_OBJECT_SIDE:
        raise ValueError(f"max_side must be an int >= {MIN_OBJECT_SIDE}, got {max_side!r}")
    target = Path(dest).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(
            f"dest: '{target}' exists and is not an empty folder; expected a new or empty one"
        )
    source = Path(DEFAULT_OBJECTS if objects is None else objects).expanduser()
    photo_dir = Path(DEFAULT_BACKGROUNDS if backgrounds is None else backgrounds).expanduser()
    names = _class_names(source, classes)
    photos = _photo_files(photo_dir)

    def copy_one(file: str) -> tuple[bool, bool]:
        """(kept, copied at full size) for one candidate file."""
        rgba = _decode(source, file)
        if rgba is None or _filter_reason(rgba[..., 3] >= ALPHA_THRESHOLD) is not None:
            return False, False
        out = target / "objects" / file
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_shrink_cutout(rgba, max_side)).save(out)
        if _prepare(target / "objects", file, None)[0] is None:
            return True, False
        Image.fromarray(_shrink_cutout(rgba, max(rgba.shape[:2]))).save(out)
        return True, True

    counts: dict[str, dict[str, int]] = {}
    full_size = 0
    target.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(worker_threads()) as pool:
        for name in names:
            counts[name] = {}
            for side in ("train", "test"):
                files = _candidates(source, name, side, Counter())
                done = list(pool.map(copy_one, files))
                counts[name][side] = sum(kept for kept, _ in done)
                full_size += sum(full for _, full in done)
    (target / "backgrounds").mkdir()
    for photo in photos:
        shutil.copy2(photo, target / "backgrounds" / photo.name)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    summary = {
        "objects": counts,
        "photos": len(photos),
        "full_size": full_size,
        "bytes": size,
        "max_side": max_side,
    }
    record = {"source_objects": str(source), "source_backgrounds": str(photo_dir),
              "classes": list(names), **summary}  # fmt: skip
    (target / "compact_copy.json").write_text(json.dumps(record, indent=2) + "\n")
    return summary


# ------------------------------------------------------------------------ backgrounds
@dataclass(frozen=True)
class _Photo:
    """One photo cut into its train and test regions, each resized to one height."""

    regions: dict[str, np.ndarray]  # "train"/"test" -> (H', W', 3) uint8
    offsets: dict[str, int]  # first source column of each region
    scale: float  # resized / source pixels
    max_side: int  # largest crop side (resized pixels) that fits in both regions


def _photo_files(backgrounds: Path) -> list[Path]:
    if not backgrounds.is_dir():
        raise _missing("backgrounds", backgrounds)
    return sorted(
        p for p in backgrounds.iterdir() if p.is_file() and p.suffix.lower() in _PHOTO_SUFFIXES
    )


@lru_cache(maxsize=32)
def _photo(path: Path, size: int) -> _Photo:
    """Decode one photo, cut it at :data:`TRAIN_REGION_SHARE` and resize both parts."""
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as err:
        raise ValueError(f"backgrounds: cannot read photo '{path}' ({err})") from err
    height, width = rgb.shape[:2]
    cut = round(TRAIN_REGION_SHARE * width)
    if min(cut, width - cut, height) < 2:
        raise ValueError(
            f"backgrounds: photo '{path}' is {width}x{height}, too small to cut at "
            f"{TRAIN_REGION_SHARE:g} of its width"
        )
    target = min(height, math.ceil(size / CROP_SCALE[0]))  # crops of size px at the least
    scale = target / height
    regions, offsets = {}, {"train": 0, "test": cut}
    for side, part in (("train", rgb[:, :cut]), ("test", rgb[:, cut:])):
        region = _resize(part, max(1, round(part.shape[1] * scale)), target)
        region.flags.writeable = False
        regions[side] = region
    max_side = min(target, regions["train"].shape[1], regions["test"].shape[1])
    return _Photo(regions, offsets, scale, max_side)


# ----------------------------------------------------------------------------- render
@dataclass(frozen=True)
class Placement:
    """What one sample shows and where: all the random choices behind its pixels.

    Attributes:
        label: The class.
        family: The background family (index of the photo).
        object_file: The cutout, relative to the objects folder.
        object_box: ``(x, y, width, height)`` of the cutout's box in the image, pixels.
        object_flipped: Whether the cutout is flipped left-right.
        crop_box: ``(left, top, side)`` of the background crop in the photo's own
            pixels (a square).
        crop_flipped: Whether the crop is flipped left-right.

    Example:
        >>> Placement(0, 1, "a/x.png", (2, 3, 10, 12), False, (0.0, 0.0, 50.0), True).family
        1
    """

    label: int
    family: int
    object_file: str
    object_box: tuple[int, int, int, int]
    object_flipped: bool
    crop_box: tuple[float, float, float]
    crop_flipped: bool


def _draw_family(
    rng: np.random.Generator, label: int, split: str, bias: float, num_families: int
) -> int:
    """The first draw of every sample: its family (its own with probability ``bias``)."""
    if split not in _BIASED_SPLITS:
        return int(rng.integers(num_families))
    if rng.random() < bias:
        return label
    return int((label + 1 + rng.integers(num_families - 1)) % num_families)


def _sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([_SALT, seed, SPLITS[split], index])


# ---------------------------------------------------------------------------- dataset
class ObjectsOnPhotos(Dataset):
    """Real clip-art objects with exact alpha masks on crops of real photos, with a bias.

    Args:
        split: "train", "val" or "test_biased" (backgrounds follow the class with
            probability ``bias``), or "test" (backgrounds uniform, independent of class).
            "train" and "val" show the training objects on crops of the photos' training
            regions, "test" and "test_biased" the test objects on the held-out regions.
            All four are disjoint samples.
        size: Image side in pixels.
        num_samples: Number of samples; ``None`` gives 5000 for "train" and 1000 otherwise.
        bias: Probability that a sample of class ``k`` in a biased split lies on family
            ``k``; otherwise one of the other families is picked uniformly.
            ``1 / len(families)`` makes background and class independent. Ignored by
            "test".
        seed: Base seed; sample ``i`` is drawn from a generator seeded by
            ``(seed, split, i)``.
        objects: Folder with one subfolder of RGBA PNGs per class; ``None``:
            :data:`DEFAULT_OBJECTS` (Debian's ``openclipart-png``).
        backgrounds: Folder of photos (``.jpg``, ``.jpeg``, ``.png``), one per family, at
            least one per class; ``None``: :data:`DEFAULT_BACKGROUNDS` (Debian's
            ``mate-backgrounds``).
        classes: Class subfolders of ``objects``, in label order; ``None``:
            :data:`OPENCLIPART_CLASSES` for the default folder, else every subfolder
            (sorted).
        coverage: (min, max) share of the image the object's mask covers, drawn
            log-uniformly (lower when the cutout cannot grow that large in the image).
        background: ``"photo"`` (the crops) or ``"neutral"`` (flat gray
            :data:`~segaug.data.synthetic.NEUTRAL_GRAY`: the objects alone, the same
            objects at the same places, the same pixels inside the mask).
        transform: Optional callable applied to the PIL image in ``__getitem__``.

    Attributes:
        classes: Class names (the folder names), ``classes[label]``.
        families: Background family names (the photos' file stems).
        objects: This split's cutout files per class, relative to ``objects``.
        removed: How many of this side's cutouts each filter left out
            (:data:`FILTER_REASONS`).

    Shape:
        - ``ds[i]``: (PIL RGB image of ``size x size``, int label).
        - ``ds.get_mask(i)``: :math:`(H, W)` uint8 in {0, 1}, 1 on the object.
        - ``ds.get_background(i)``: :math:`(H, W, 3)` uint8, the image with the object
          never drawn.
        - ``ds.images``: :math:`(N, H, W, 3)` uint8; ``ds.masks``: :math:`(N, H, W)` uint8.
        - ``ds.get_batch(idx)``: images :math:`(B, H, W, 3)`, masks :math:`(B, H, W)`,
          labels :math:`(B,)` int64.

    Raises:
        ValueError: On an unknown split, an out-of-range argument, a missing class
            folder, a class left without cutouts, or fewer photos than classes.
        FileNotFoundError: When the objects or backgrounds folder does not exist (the
            message names the ``apt-get install`` that brings the default ones).

    Example:
        >>> ObjectsOnPhotos("test", objects="/no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: objects: folder '/no/such/folder' not found; `apt-get install ...
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 64,
        num_samples: int | None = None,
        bias: float = 0.9,
        seed: int = 0,
        objects: str | os.PathLike[str] | None = None,
        backgrounds: str | os.PathLike[str] | None = None,
        classes: Sequence[str] | None = None,
        coverage: tuple[float, float] = DEFAULT_COVERAGE,
        background: str = "photo",
        transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
            raise ValueError(f"size must be an int in [16, 1024], got {size!r}")
        if num_samples is None:
            num_samples = _DEFAULT_NUM_SAMPLES[split]
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int or None, got {num_samples!r}")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not 0.0 <= bias <= 1.0:
            raise ValueError(f"bias must be a float in [0, 1], got {bias!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        lo_cov, hi_cov = (float(c) for c in coverage)
        if not 0.0 < lo_cov <= hi_cov <= 0.9:
            raise ValueError(f"coverage must satisfy 0 < min <= max <= 0.9, got {tuple(coverage)}")
        if background not in ("photo", "neutral"):
            raise ValueError(f"background must be 'photo' or 'neutral', got {background!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {transform!r}")
        self.split = split
        self.size = size
        self.num_samples = num_samples
        self.bias = float(bias)
        self.seed = seed
        self.coverage = (lo_cov, hi_cov)
        self.background = background
        self.transform = transform
        self.side = "test" if split in _TEST_SPLITS else "train"

        self.objects_dir = Path(DEFAULT_OBJECTS if objects is None else objects).expanduser()
        self.backgrounds_dir = Path(
            DEFAULT_BACKGROUNDS if backgrounds is None else backgrounds
        ).expanduser()
        names = _class_names(self.objects_dir, classes)
        photos = _photo_files(self.backgrounds_dir)
        if len(photos) < len(names):
            raise ValueError(
                f"backgrounds: {len(photos)} photos in '{self.backgrounds_dir}', need at least "
                f"one per class ({len(names)})"
            )
        self.classes: list[str] = list(names)
        self.families: list[str] = [p.stem for p in photos]
        self._photos = [_photo(p.resolve(), size) for p in photos]
        catalogue = _catalogue(self.objects_dir.resolve(), names, self.side, size)
        self._cutouts = catalogue.cutouts
        self.removed: dict[str, int] = dict(catalogue.removed)
        self.objects: list[tuple[str, ...]] = [tuple(c.file for c in cs) for cs in self._cutouts]
        self._rendered: OrderedDict[int, tuple[np.ndarray, ...]] = OrderedDict()
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._families: np.ndarray | None = None

    # -- drawing
    def get_placement(self, index: int) -> Placement:
        """The random choices of sample ``index`` (cheap: no pixels are drawn)."""
        return self._draw(self._check_index(index))[0]

    def _draw(self, i: int) -> tuple[Placement, np.ndarray, np.ndarray]:
        """(placement, background crop (S, S, 3), premultiplied cutout at its box (h, w, 4))."""
        rng = _sample_rng(self.seed, self.split, i)
        label = i % len(self.classes)
        family = _draw_family(rng, label, self.split, self.bias, len(self.families))
        s = self.size

        photo = self._photos[family]
        region = photo.regions[self.side]
        side = max(1, min(photo.max_side, round(rng.uniform(*CROP_SCALE) * region.shape[0])))
        x = int(rng.integers(region.shape[1] - side + 1))
        y = int(rng.integers(region.shape[0] - side + 1))
        crop_flipped = bool(rng.random() < 0.5)
        crop = _resize(region[y : y + side, x : x + side], s, s)
        if crop_flipped:
            crop = cv2.flip(crop, 1)
        crop_box = (
            photo.offsets[self.side] + x / photo.scale,
            y / photo.scale,
            side / photo.scale,
        )

        pool = self._cutouts[label]
        cutout = pool[int(rng.integers(len(pool)))]
        lo, hi = self.coverage
        target = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        object_flipped = bool(rng.random() < 0.5)
        height, width = cutout.rgba.shape[:2]
        grow = math.sqrt(target * s * s / (cutout.fill * width * height))
        grow = min(grow, s / max(width, height))  # the whole box stays inside the image
        w = min(s, max(1, round(width * grow)))
        h = min(s, max(1, round(height * grow)))
        ox = int(rng.integers(s - w + 1))
        oy = int(rng.integers(s - h + 1))
        small = _resize(cutout.rgba, w, h)
        if object_flipped:
            small = cv2.flip(small, 1)
        placement = Placement(
            label, family, cutout.file, (ox, oy, w, h), object_flipped, crop_box, crop_flipped
        )
        return placement, crop, small

    def _render(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image, mask, background) of sample ``i``, read-only, memoised for a few."""
        hit = self._rendered.get(i)
        if hit is not None:
            self._rendered.move_to_end(i)
            return hit  # type: ignore[return-value]
        placement, crop, small = self._draw(i)
        s = self.size
        if self.background == "neutral":
            background = np.full((s, s, 3), NEUTRAL_GRAY, dtype=np.uint8)
        else:
            background = np.array(crop)  # a copy: never a view of the cached photo
        solid = (small[..., 3] >= ALPHA_THRESHOLD).view(np.uint8)
        alpha = cv2.cvtColor(np.ascontiguousarray(small[..., 3]), cv2.COLOR_GRAY2RGB)
        colour = cv2.divide(cv2.cvtColor(small, cv2.COLOR_RGBA2RGB), alpha, scale=255)
        ox, oy, w, h = placement.object_box
        image = background.copy()
        box = image[oy : oy + h, ox : ox + w].copy()  # contiguous, for OpenCV to write into
        cv2.copyTo(colour, solid, box)
        image[oy : oy + h, ox : ox + w] = box
        mask = np.zeros((s, s), dtype=np.uint8)
        mask[oy : oy + h, ox : ox + w] = solid
        out = (image, mask, background)
        for a in out:
            a.flags.writeable = False
        self._rendered[i] = out
        if len(self._rendered) > _RENDER_CACHE:
            self._rendered.popitem(last=False)
        return out

    # -- torchvision-style access
    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[Any, int]:
        i = self._check_index(index)
        image = self._images[i] if self._images is not None else self._render(i)[0]
        pil = Image.fromarray(image, mode="RGB")
        return (self.transform(pil) if self.transform is not None else pil), self._label(i)

    def get_mask(self, index: int) -> np.ndarray:
        """The exact object mask of sample ``index``: uint8 (H, W), 1 on the object."""
        i = self._check_index(index)
        if self._masks is not None:
            return self._masks[i].copy()
        return self._render(i)[1].copy()

    def get_background(self, index: int) -> np.ndarray:
        """Sample ``index`` with its object never drawn: uint8 (H, W, 3).

        Inside the mask it shows the photo crop that the object hides; outside the mask
        it equals the image exactly.
        """
        return self._render(self._check_index(index))[2].copy()

    def get_backgrounds(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """:meth:`get_background` of several samples, stacked: (B, H, W, 3) uint8."""
        idx = [self._check_index(int(i)) for i in np.asarray(indices).reshape(-1)]
        out = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        for row, i in enumerate(idx):
            out[row] = self._render(i)[2]
        return out

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        """Images, masks and labels of several samples as stacked arrays.

        Args:
            indices: Sample indices (negative ones count from the end).

        Returns:
            ``(images (B, H, W, 3) uint8, masks (B, H, W) uint8, labels (B,) int64)``.
        """
        idx = [self._check_index(int(i)) for i in np.asarray(indices).reshape(-1)]
        labels = np.array([self._label(i) for i in idx], dtype=np.int64)
        if self._images is not None and self._masks is not None:
            return self._images[idx], self._masks[idx], labels
        images = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        masks = np.empty((len(idx), self.size, self.size), dtype=np.uint8)
        for row, i in enumerate(idx):
            images[row], masks[row] = self._render(i)[:2]
        return images, masks, labels

    # -- whole-split arrays
    @property
    def images(self) -> np.ndarray:
        """All images, (N, H, W, 3) uint8; generated and kept in memory on first access."""
        return self._materialise()[0]

    @property
    def masks(self) -> np.ndarray:
        """All masks, (N, H, W) uint8 in {0, 1}; generated with :attr:`images`."""
        return self._materialise()[1]

    @property
    def targets(self) -> np.ndarray:
        """Labels of all samples, (N,) int64 (cheap: no drawing)."""
        return np.arange(self.num_samples, dtype=np.int64) % len(self.classes)

    @property
    def background_families(self) -> np.ndarray:
        """Background family index of every sample, (N,) int64 (cheap: no drawing)."""
        if self._families is None:
            self._families = np.array(
                [
                    _draw_family(
                        _sample_rng(self.seed, self.split, i),
                        self._label(i),
                        self.split,
                        self.bias,
                        len(self.families),
                    )
                    for i in range(self.num_samples)
                ],
                dtype=np.int64,
            )
        return self._families

    # -- internals
    def _label(self, i: int) -> int:
        return i % len(self.classes)

    def _check_index(self, index: int) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        i = int(index)
        if i < 0:
            i += self.num_samples
        if not 0 <= i < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        return i

    def _materialise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._images is None or self._masks is None:
            self._images, self._masks, _ = self.get_batch(np.arange(self.num_samples))
        return self._images, self._masks

    def __repr__(self) -> str:
        return (
            f"ObjectsOnPhotos(split={self.split!r}, size={self.size}, "
            f"num_samples={self.num_samples}, bias={self.bias:g}, seed={self.seed}, "
            f"classes={len(self.classes)}, families={len(self.families)}, "
            f"background={self.background!r})"
        )


@register_dataset(
    DatasetInfo(
        "objects_on_photos",
        None,
        "top1",
        64,
        ("train", "val", "test", "test_biased"),
        str(DEFAULT_OBJECTS),
        has_masks=True,
        official_val=True,
        extra_test_splits=("test_biased",),
        needs_root=False,
        downloadable=False,
        pretrain_kwargs=_synthetic_pretrain_kwargs,
        exact_backgrounds=True,
    )
)
def _objects_on_photos(
    root: Path | None,
    split: str,
    download: bool,
    transform: Callable | None = None,
    size: int = 64,
    num_samples: int | None = None,
    bias: float = 0.9,
    seed: int = 0,
    objects: str | None = None,
    backgrounds: str | None = None,
    classes: Sequence[str] | None = None,
    coverage: Sequence[float] = DEFAULT_COVERAGE,
    background: str = "photo",
) -> ObjectsOnPhotos:
    """Rendered offline from two local folders (``objects``, ``backgrounds``); no ``root``.

    ``num_classes`` is ``None`` in the descriptor because ``objects``/``classes`` set it
    (ten for the defaults).
    """
    if root is not None:
        raise ValueError(
            f"root must be None for 'objects_on_photos' (its folders are the options "
            f"objects= and backgrounds=), got {str(root)!r}"
        )
    if download:
        raise ValueError("download must be False for 'objects_on_photos': nothing to fetch")
    if isinstance(coverage, (str, bytes)) or len(coverage) != 2:
        raise ValueError(f"coverage must be a (min, max) pair, got {coverage!r}")
    return ObjectsOnPhotos(
        split,
        size=size,
        num_samples=num_samples,
        bias=bias,
        seed=seed,
        objects=objects,
        backgrounds=backgrounds,
        classes=classes,
        coverage=(coverage[0], coverage[1]),
        background=background,
        transform=transform,
    )
