"""Masks from annotation files: the ``files`` mask source.

One mask file per image, in a folder that mirrors the image folder: the mask of
``images/cat/001.jpg`` (key ``cat/001.jpg``) is ``masks/cat/001.png``. A file may be

* a binary mask (PNG, mode ``1``/``L``/``RGB``): every non-zero pixel is foreground;
* an index or palette image (mode ``P``/``L``/``I``) whose values are classes: choose
  the ``foreground`` values (Oxford Pets trimaps: ``{1, 3}``, pet and border), or the
  ``background`` values and let every other value be foreground (Pascal VOC
  ``SegmentationClass``: background ``{0, 255}``, i.e. classes 1..20 without the
  255 "void" border).

A missing, unreadable or size-mismatched file raises :class:`MaskFileError` naming the
path; :class:`~segaug.data.masked.MaskedDataset` reports it as a warning and gives the
item an empty mask (the sample falls back to global augmentation), and
``segaug-precompute-masks`` lists it among the failed items; both runs go on.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "cat").mkdir()
    >>> Image.fromarray(np.array([[1, 2], [3, 2]], np.uint8)).save(root / "cat" / "a.png")
    >>> pets = FileMasks(root, foreground=(1, 3))
    >>> pets.lookup(0, "cat/a.jpg").tolist()
    [[1, 0], [1, 0]]
    >>> pets.path_for("cat/a.jpg").name
    'a.png'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from segaug.masks.sources import MASK_SOURCES, MaskFileError, MaskSource

__all__ = ["FileMasks"]


def _int_values(name: str, values: Iterable[int] | str | None) -> tuple[int, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    try:
        out = tuple(sorted({int(v) for v in values}))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be integers (e.g. (1, 3)), got {values!r}") from None
    if not out:
        raise ValueError(f"{name} must hold at least one value, got {values!r}")
    return out


@MASK_SOURCES.register("files")
class FileMasks(MaskSource):
    """Masks read from files in a folder that mirrors the image folder.

    Args:
        root: The mask folder.
        foreground: Pixel values that are foreground (index/palette images); ``None``
            means every value not in ``background``.
        background: Values that are background when ``foreground`` is ``None``
            (default ``(0,)``: binary masks; VOC: ``(0, 255)``).
        suffix: Extension of the mask files, replacing the image's (default
            ``".png"``); ``""`` keeps the image's file name unchanged.

    Shape:
        - ``lookup(index, key, image_size)``: uint8 :math:`(H, W)` in ``{0, 1}``.

    Raises:
        ValueError: If ``root`` is not an existing folder, or the values are not
            integers, or both ``foreground`` and a non-default ``background`` are given.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> d = tempfile.mkdtemp()
        >>> voc = np.array([[0, 15, 255], [0, 15, 15]], np.uint8)  # person + void border
        >>> Image.fromarray(voc).save(f"{d}/2007_000032.png")
        >>> FileMasks(d, background=(0, 255)).lookup(0, "2007_000032.jpg", (2, 3)).tolist()
        [[0, 1, 0], [0, 1, 1]]
    """

    name = "files"
    by_path = True
    spec_form = "files:MASK_DIR[?foreground=1,3|background=0,255]"
    int_list_options = ("foreground", "background")

    def __init__(
        self,
        root: str | os.PathLike[str],
        foreground: Iterable[int] | str | None = None,
        background: Iterable[int] | str | None = (0,),
        suffix: str = ".png",
    ) -> None:
        if not isinstance(root, (str, os.PathLike)) or not Path(root).is_dir():
            raise ValueError(f"root must be an existing mask folder, got {root!r}")
        if not isinstance(suffix, str) or (suffix and not suffix.startswith(".")):
            raise ValueError(f"suffix must be '' or start with '.', got {suffix!r}")
        self.root = Path(root)
        self.foreground = _int_values("foreground", foreground)
        self.background = _int_values("background", background) or (0,)
        if self.foreground is not None and self.background != (0,):
            raise ValueError(
                f"give foreground ({self.foreground}) or background ({self.background}), not both"
            )
        self.suffix = suffix

    def _config(self) -> dict[str, Any]:
        # the folder is not part of the id: cached masks stay valid when it moves; the
        # cache's content hash covers the mask file itself
        rule = (
            {"foreground": list(self.foreground)}
            if self.foreground is not None
            else {"background": list(self.background)}
        )
        return {**rule, "suffix": self.suffix}

    def path_for(self, key: str) -> Path:
        """The mask file of the image whose path relative to the image folder is ``key``."""
        rel = PurePosixPath(key)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"key must be a relative path inside the folder, got {key!r}")
        if self.suffix:
            rel = rel.with_suffix(self.suffix)
        return self.root.joinpath(*rel.parts)

    def check(self, keys: list[str]) -> list[tuple[str, str]]:
        """``(key, problem)`` for every key whose mask file does not exist."""
        paths = ((k, self.path_for(k)) for k in keys)
        return [(k, f"mask file missing: {p}") for k, p in paths if not p.is_file()]

    def read_bytes(self, key: str) -> bytes:
        """The raw bytes of the mask file of ``key`` (for content hashes)."""
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise MaskFileError(f"mask file missing: {path}") from None
        except OSError as err:
            raise MaskFileError(f"mask file unreadable: {path} ({err.strerror})") from None

    def decode(self, data: bytes | None, key: str) -> np.ndarray:
        """Turn the mask file of ``key`` (or its ``data``) into a ``{0, 1}`` uint8 mask."""
        import io

        path = self.path_for(key)
        source: Any = io.BytesIO(data) if data is not None else path
        try:
            with Image.open(source) as im:
                im.load()
                if im.mode in ("RGB", "RGBA", "LA"):
                    if self.foreground is not None:
                        raise MaskFileError(
                            f"mask file {path} is {im.mode}: foreground values need an index, "
                            "palette or grey image"
                        )
                    im = im.convert("L")
                values = np.asarray(im)
        except FileNotFoundError:
            raise MaskFileError(f"mask file missing: {path}") from None
        except MaskFileError:
            raise
        except Exception as err:  # noqa: BLE001 - any decoder error: report the path
            raise MaskFileError(
                f"mask file unreadable: {path} ({type(err).__name__}: {err})"
            ) from None
        if values.ndim != 2:
            raise MaskFileError(f"mask file {path} has shape {values.shape}, expected (H, W)")
        if self.foreground is not None:
            mask = np.isin(values, self.foreground)
        else:
            mask = ~np.isin(values, self.background)
        return mask.astype(np.uint8)

    def lookup(self, index: int, key: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
        """Read the mask of ``key``; ``image_size`` ``(H, W)`` is checked when given.

        Raises:
            MaskFileError: Missing, unreadable, or not ``image_size`` (names the path).
        """
        mask = self.decode(None, key)
        check_size(mask, image_size, self.path_for(key))
        return mask


def check_size(mask: np.ndarray, image_size: tuple[int, int] | None, path: Path) -> None:
    """Raise :class:`MaskFileError` if ``mask`` is not ``image_size`` ``(H, W)``."""
    if image_size is not None and tuple(mask.shape) != tuple(image_size):
        h, w = image_size
        raise MaskFileError(
            f"mask file {path} is {mask.shape[1]}x{mask.shape[0]} (WxH), its image is {w}x{h}"
        )
