"""An on-disk cache of binary foreground masks or label maps, safe for resumed and parallel runs.

Layout of a cache directory::

    CACHE/
      segaug-mask-cache.json       # format marker {"format": "segaug-mask-cache", "version": 1}
      chunks/
        <created_ns>-<writer>-<seq>.smc   # immutable chunk files, written atomically
        .tmp-*                             # a chunk being written (ignored by readers)
      failed/
        <writer>.json                      # items a precompute run could not read

Every chunk file holds up to ``chunk_size`` masks computed by one segmenter
configuration, and is its own manifest: a header (JSON, protected by a CRC-32) lists
for each mask its key, the content hash of its image, shape, foreground coverage,
compressed size, offset and the CRC-32 of its bytes; the payload holds the masks as
``zlib(np.packbits(mask))`` (about 0.3-0.6 KB for a 224 px object mask).

A chunk may instead hold *label maps* (uint8 region ids ``1..255``, ``0`` =
unlabelled; what a segmenter with ``label_maps = True`` produces): its header then
says ``"encoding": "uint8"``, the payload holds ``zlib(label_map.tobytes())``, the
coverage is the fraction of labelled (non-zero) pixels, and a ``regions`` column
counts the distinct ids of each map. A chunk without ``encoding`` holds binary masks
(``"bits"``): binary chunks are byte for byte what they were before label maps
existed. Open a label-map writer with ``MaskCache.writer(..., label_maps=True)``;
:attr:`MaskCache.label_maps` says what a reader serves.

* Keys: the image's path relative to the source folder (``"cats/001.jpg"``), or for
  in-memory datasets the zero-padded index (:func:`index_key`, ``"00000042"``).
* Writes are atomic (temporary file, then ``os.replace``): a killed run leaves only
  complete chunks, and the next run skips what they contain.
* Writers never share a file, so any number of processes (``--shard i/n``, one per
  GPU or machine) can write into one cache; no merge step is needed.
  :meth:`MaskCache.compact` optionally rewrites the live entries into one chunk.
* An entry is reused only when its key, image content hash and segmenter
  ``config_id`` all match; later chunks supersede earlier ones for the same key.
* Corruption is detected by checksum (header CRC, per-mask CRC); corrupt entries
  count as missing and are recomputed by the next precompute run.
* Items a precompute run could not read are recorded (:meth:`MaskCache.failures`):
  an unreadable image (kind ``"image"``), which datasets reading the cache leave out,
  or an unusable annotation file (kind ``"mask"``), whose item gets an empty mask.
  A later run that reads the item supersedes the record.

Readers select one segmenter configuration: the one given, or by default the
configuration of the most recently written chunk.

Example:
    >>> import numpy as np, tempfile
    >>> root = tempfile.mkdtemp()
    >>> with MaskCache(root).writer("demo{}") as w:
    ...     w.add("a.png", "hash-a", np.eye(4, dtype=np.uint8))
    >>> cache = MaskCache(root)
    >>> int(cache.load("a.png").sum()), round(cache.coverage("a.png"), 2)
    (4, 0.25)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import struct
import time
import uuid
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segaug.io import atomic_write

FORMAT_NAME = "segaug-mask-cache"
FORMAT_VERSION = 1
MARKER_FILE = "segaug-mask-cache.json"
CHUNK_DIR = "chunks"
FAILED_DIR = "failed"
FAILURE_KINDS = ("image", "mask")
"""Why an item has no mask: its image cannot be read, or its annotation file is unusable."""
CHUNK_SUFFIX = ".smc"
_MAGIC = b"SEGAUGMC"
_PREFIX = struct.Struct("<8sQI")  # magic, header length, header crc32
ENCODINGS = ("bits", "uint8")
"""Payload encodings of a chunk: binary masks (``zlib(packbits)``, the default, not
written in the header) or label maps (``zlib`` of the uint8 ids, ``"encoding": "uint8"``)."""


class MissingMaskError(LookupError):
    """A key has no (valid) mask in the cache for the selected configuration."""


class CorruptMaskError(RuntimeError):
    """A cached mask failed its checksum."""


def index_key(index: int) -> str:
    """Cache key of item ``index`` of an in-memory dataset: 8 zero-padded digits.

    Example:
        >>> index_key(42)
        '00000042'
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be an int >= 0, got {index!r}")
    return f"{int(index):08d}"


def content_hash(data: bytes | memoryview | np.ndarray) -> str:
    """BLAKE2b-128 hex digest of image bytes (files) or pixels (arrays, shape included)."""
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(data, np.ndarray):
        digest.update(repr((data.shape, str(data.dtype))).encode())
        data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    digest.update(data)
    return digest.hexdigest()


def encode_mask(mask: np.ndarray, encoding: str = "bits") -> bytes:
    """Compress a ``(H, W)`` mask: ``zlib(np.packbits(mask))`` for a {0, 1} mask
    (``encoding="bits"``), ``zlib(mask.tobytes())`` for a uint8 label map (``"uint8"``).

    Example:
        >>> labels = np.array([[0, 3], [7, 255]], np.uint8)
        >>> decode_mask(encode_mask(labels, "uint8"), 2, 2, "uint8").tolist()
        [[0, 3], [7, 255]]
    """
    if encoding == "uint8":
        return zlib.compress(np.ascontiguousarray(mask, dtype=np.uint8).tobytes(), 6)
    _check_encoding(encoding)
    return zlib.compress(np.packbits(mask.reshape(-1)).tobytes(), 6)


def decode_mask(
    blob: bytes | memoryview, height: int, width: int, encoding: str = "bits"
) -> np.ndarray:
    """Inverse of :func:`encode_mask`: uint8 ``(height, width)`` (in {0, 1} for ``"bits"``)."""
    raw = np.frombuffer(zlib.decompress(blob), dtype=np.uint8)
    if encoding == "uint8":
        return raw.reshape(height, width).copy()
    _check_encoding(encoding)
    return np.unpackbits(raw, count=height * width).reshape(height, width)


def _check_encoding(encoding: object) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def _check_mask(mask: Any, key: str, label_maps: bool = False) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"mask for {key!r} must have shape (H, W), got {arr.shape}")
    if label_maps:
        if arr.dtype != np.uint8:
            raise ValueError(
                f"label map for {key!r} must be a uint8 array of region ids 0..255, got "
                f"dtype {arr.dtype}"
            )
        return arr.copy()  # queued until the chunk is written: not the caller's buffer
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "uif" or not np.isin(arr, (0, 1)).all():
        values = np.unique(arr)[:6].tolist() if arr.dtype.kind in "uif" else []
        seen = f", values {values}" if values else ""
        raise ValueError(
            f"mask for {key!r} must hold only 0 and 1, got dtype {arr.dtype}{seen} (a label "
            "map of region ids needs a writer opened with label_maps=True)"
        )
    return arr.astype(np.uint8)


@dataclass(frozen=True)
class ChunkInfo:
    """One parsed chunk header."""

    path: Path
    config_id: str
    created_ns: int
    writer: str
    payload_start: int
    header: dict[str, Any]

    @property
    def encoding(self) -> str:
        """``"bits"`` (binary masks; chunks without the field) or ``"uint8"`` (label maps)."""
        return str(self.header.get("encoding", "bits"))


def _read_chunk_header(path: Path) -> ChunkInfo:
    """Parse and verify a chunk header; raises ``ValueError`` when it is invalid."""
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        if len(prefix) != _PREFIX.size:
            raise ValueError("file shorter than the chunk prefix")
        magic, length, crc = _PREFIX.unpack(prefix)
        if magic != _MAGIC:
            raise ValueError("not a segaug mask chunk (bad magic)")
        raw = f.read(length)
        f.seek(0, os.SEEK_END)
        size = f.tell()
    if len(raw) != length or zlib.crc32(raw) != crc:
        raise ValueError("header checksum mismatch")
    header = json.loads(raw)
    if header.get("encoding", "bits") not in ENCODINGS:
        raise ValueError(f"unknown encoding {header['encoding']!r} (expected one of {ENCODINGS})")
    payload_start = _PREFIX.size + length
    if size - payload_start != header["payload_bytes"]:
        raise ValueError(
            f"payload is {size - payload_start} bytes, header says {header['payload_bytes']}"
        )
    return ChunkInfo(
        path=path,
        config_id=header["config_id"],
        created_ns=int(header["created_ns"]),
        writer=header["writer"],
        payload_start=payload_start,
        header=header,
    )


def _atomic_write(path: Path, parts: Iterable[bytes]) -> None:
    atomic_write(path, parts, fsync=True)


def _default_writer_id() -> str:
    host = re.sub(r"[^A-Za-z0-9]+", "", socket.gethostname())[:24] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class MaskWriter:
    """Appends masks of one segmenter configuration to a cache, one chunk at a time.

    Use through :meth:`MaskCache.writer`. Masks are buffered and written as a chunk
    every ``chunk_size`` masks and on :meth:`close`; a chunk is visible to readers only
    once it is complete.

    Args:
        root: Cache directory.
        config_id: The segmenter's :attr:`~segaug.masks.base.Segmenter.config_id`.
        chunk_size: Masks per chunk (>= 1).
        writer_id: Unique name of this writer (letters, digits, ``_``, ``.``, ``-``);
            default: host, process id and a random suffix.
        label_maps: Store label maps (uint8 region ids ``0..255``, ``"encoding":
            "uint8"`` chunks) instead of binary {0, 1} masks.
    """

    def __init__(
        self,
        root: Path,
        config_id: str,
        chunk_size: int = 256,
        writer_id: str | None = None,
        label_maps: bool = False,
    ) -> None:
        if not isinstance(config_id, str) or not config_id:
            raise ValueError(f"config_id must be a non-empty str, got {config_id!r}")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        writer_id = writer_id or _default_writer_id()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", writer_id):
            raise ValueError(f"writer_id must match [A-Za-z0-9_.-]+, got {writer_id!r}")
        if not isinstance(label_maps, bool):
            raise ValueError(f"label_maps must be True or False, got {label_maps!r}")
        self.root = root
        self.label_maps = label_maps
        self.config_id = config_id
        self.chunk_size = chunk_size
        self.writer_id = writer_id
        self.written = 0
        self._seq = 0
        self._pending: dict[str, tuple[str, np.ndarray]] = {}

    def add(self, key: str, content_hash: str, mask: np.ndarray) -> None:
        """Queue ``mask`` for image ``key``.

        ``mask``: uint8/bool ``(H, W)`` in {0, 1}; for a label-map writer a uint8
        ``(H, W)`` label map (a leading axis of 1 is dropped in both cases).

        Raises:
            ValueError: If the mask has another shape, or is not binary (binary writer)
                or not uint8 (label-map writer).
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, got {key!r}")
        self._pending[key] = (str(content_hash), _check_mask(mask, key, self.label_maps))
        if len(self._pending) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued masks as one chunk (no-op when nothing is queued)."""
        if not self._pending:
            return
        names = ("keys", "hashes", "offsets", "nbytes", "heights", "widths", "coverage", "crc32")
        if self.label_maps:
            names += ("regions",)
        columns: dict[str, list[Any]] = {name: [] for name in names}
        encoding = "uint8" if self.label_maps else "bits"
        blobs, offset = [], 0
        for key, (digest, mask) in self._pending.items():
            blob = encode_mask(mask, encoding)
            columns["keys"].append(key)
            columns["hashes"].append(digest)
            columns["offsets"].append(offset)
            columns["nbytes"].append(len(blob))
            columns["heights"].append(int(mask.shape[0]))
            columns["widths"].append(int(mask.shape[1]))
            columns["coverage"].append(round(float(np.count_nonzero(mask) / mask.size), 6))
            columns["crc32"].append(zlib.crc32(blob))
            if self.label_maps:
                columns["regions"].append(int(np.count_nonzero(np.bincount(mask.ravel())[1:])))
            blobs.append(blob)
            offset += len(blob)
        created = time.time_ns()
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "config_id": self.config_id,
            "created_ns": created,
            "writer": self.writer_id,
            "payload_bytes": offset,
            **({"encoding": encoding} if self.label_maps else {}),
            **columns,
        }
        raw = json.dumps(header, separators=(",", ":")).encode()
        name = f"{created:020d}-{self.writer_id}-{self._seq:06d}{CHUNK_SUFFIX}"
        _atomic_write(
            self.root / CHUNK_DIR / name,
            [_PREFIX.pack(_MAGIC, len(raw), zlib.crc32(raw)), raw, *blobs],
        )
        self._seq += 1
        self.written += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        """Flush the remaining masks."""
        self.flush()

    def __enter__(self) -> MaskWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MaskCache:
    """Read (and write) a directory of cached masks.

    The index is built lazily on first access, in the process that uses it: with
    DataLoader workers started by ``fork`` the parent's index is shared; with
    ``spawn`` each worker rebuilds it. Payloads are held in RAM (about 0.3-0.6 KB
    per 224 px mask, e.g. ~0.5 GB for ImageNet-1k); :meth:`compact` keeps it to one file.

    Args:
        root: Cache directory (created when missing).
        config_id: Segmenter configuration to read; ``None`` selects the one of the
            most recently written chunk.
        verify: Check each mask's CRC-32 when loading it.

    Shape:
        - ``load(key)``: uint8 :math:`(H, W)` in ``{0, 1}``, the size it was stored at
          (a label-map cache, :attr:`label_maps`: uint8 region ids ``0..255``).

    Example:
        >>> cache = MaskCache("masks/")  # doctest: +SKIP
        >>> mask = cache.load("n01440764/img_0001.JPEG")  # doctest: +SKIP
    """

    def __init__(
        self, root: str | os.PathLike[str], config_id: str | None = None, verify: bool = True
    ) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise ValueError(f"root must be a path, got {type(root).__name__}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"root must be a directory, got the file {str(self.root)!r}")
        if (
            self.root.is_dir()
            and not (self.root / MARKER_FILE).exists()
            and any(
                p.name not in (CHUNK_DIR, FAILED_DIR) and not p.name.startswith(".tmp-")
                for p in self.root.iterdir()
            )
        ):
            raise ValueError(
                f"root {str(self.root)!r} is a non-empty directory that is not a segaug mask "
                f"cache (no {MARKER_FILE}); choose an empty or new directory"
            )
        self._config_request = config_id
        self.verify = verify
        self._loaded = False

    # ----------------------------------------------------------------- index
    def refresh(self) -> None:
        """Forget the index; the next access re-reads the chunk headers."""
        self._loaded = False

    def _chunk_paths(self) -> list[Path]:
        if not (self.root / CHUNK_DIR).is_dir():
            return []
        return sorted((self.root / CHUNK_DIR).glob(f"*{CHUNK_SUFFIX}"))

    def _scan(self) -> tuple[list[ChunkInfo], list[tuple[Path, str]]]:
        good, bad = [], []
        for path in self._chunk_paths():
            try:
                good.append(_read_chunk_header(path))
            except (OSError, ValueError, KeyError, TypeError) as err:
                bad.append((path, str(err)))
        good.sort(key=lambda c: (c.created_ns, c.path.name))
        return good, bad

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        chunks, bad = self._scan()
        self.bad_chunks = bad
        if bad:
            warnings.warn(
                f"mask cache {str(self.root)!r}: {len(bad)} unreadable chunk file(s) ignored "
                f"(first: {bad[0][0].name}: {bad[0][1]}); their masks count as missing. "
                "Re-run segaug-precompute-masks to recompute them.",
                stacklevel=3,
            )
        self._config_counts: dict[str, int] = {}
        for c in chunks:
            self._config_counts[c.config_id] = self._config_counts.get(c.config_id, 0) + len(
                c.header["keys"]
            )
        if self._config_request is not None:
            self.config_id = self._config_request
        else:
            self.config_id = chunks[-1].config_id if chunks else None
        selected = [c for c in chunks if c.config_id == self.config_id]

        # Later chunks supersede earlier ones: concatenate the columns in write order
        # and keep, per key, the last row.
        def column(name: str, dtype: Any) -> np.ndarray:
            parts = [np.asarray(c.header[name], dtype=dtype) for c in selected]
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        all_keys = [k for c in selected for k in c.header["keys"]]
        all_hashes = [h for c in selected for h in c.header["hashes"]]
        last = {k: i for i, k in enumerate(all_keys)}
        rows = np.fromiter(last.values(), dtype=np.int64, count=len(last))
        chunk_ids = np.repeat(
            np.arange(len(selected), dtype=np.int32),
            [len(c.header["keys"]) for c in selected],
        )
        self._keys = list(last)
        self._pos = {k: i for i, k in enumerate(self._keys)}
        self._chunk = chunk_ids[rows]
        self._offset = column("offsets", np.int64)[rows]
        self._nbytes = column("nbytes", np.int64)[rows]
        self._height = column("heights", np.int32)[rows]
        self._width = column("widths", np.int32)[rows]
        self._crc = column("crc32", np.int64)[rows]
        self._coverage = column("coverage", np.float32)[rows]
        regions = [
            np.asarray(c.header["regions"], np.int32)
            if c.encoding == "uint8"
            else (np.asarray(c.header["coverage"]) > 0).astype(np.int32)
            for c in selected
        ]
        self._regions = (np.concatenate(regions) if regions else np.empty(0, np.int32))[rows]
        self._hashes = [all_hashes[r] for r in rows.tolist()]
        self._chunks = selected
        self._encodings = [c.encoding for c in selected]
        self._payloads: list[bytes | None] = [None] * len(selected)
        self._loaded = True

    def _payload(self, ci: int) -> bytes:
        data = self._payloads[ci]
        if data is None:
            c = self._chunks[ci]
            with open(c.path, "rb") as f:
                f.seek(c.payload_start)
                data = f.read()
            self._payloads[ci] = data
        return data

    def preload(self) -> None:
        """Read every payload into RAM now (before DataLoader workers fork, to share it)."""
        self._ensure_loaded()
        for ci in range(len(self._chunks)):
            self._payload(ci)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into spawn-started DataLoader workers: send the settings, not the data.
        return {
            "root": self.root,
            "_config_request": self.config_id if self._loaded else self._config_request,
            "verify": self.verify,
            "_loaded": False,
        }

    # ------------------------------------------------------------------ reading
    def keys(self) -> list[str]:
        """Keys with a mask for the selected configuration (write order)."""
        self._ensure_loaded()
        return list(self._keys)

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        self._ensure_loaded()
        return key in self._pos

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    @property
    def selected_config(self) -> str | None:
        """The configuration this reader serves (``None`` for an empty cache)."""
        self._ensure_loaded()
        return self.config_id

    @property
    def label_maps(self) -> bool:
        """True when the selected configuration's masks are label maps (uint8 region ids).

        Then :meth:`load` returns region ids ``0..255`` (0 = unlabelled) instead of
        ``{0, 1}``. A configuration is written by one segmenter, so its chunks are all
        of one kind; should a label-map chunk meet binary ones, the binary masks read
        as label maps with the one region id 1.

        Example:
            >>> import tempfile
            >>> cache = MaskCache(tempfile.mkdtemp())
            >>> with cache.writer("fh{}", label_maps=True) as w:
            ...     w.add("a", "h", np.array([[1, 1], [2, 0]], np.uint8))
            >>> cache.label_maps, cache.load("a").tolist(), cache.coverage("a")
            (True, [[1, 1], [2, 0]], 0.75)
        """
        self._ensure_loaded()
        return "uint8" in self._encodings

    def configs(self) -> dict[str, int]:
        """Number of stored masks per segmenter configuration (superseded ones included)."""
        self._ensure_loaded()
        return dict(self._config_counts)

    def position(self, key: str) -> int:
        """Row of ``key`` in this reader's index (for :meth:`load_at`).

        Raises:
            MissingMaskError: If the key has no mask for the selected configuration.
        """
        self._ensure_loaded()
        try:
            return self._pos[key]
        except KeyError:
            raise MissingMaskError(self._missing_message([key])) from None

    def positions(self, keys: Iterable[str], allow_missing: Iterable[str] = ()) -> np.ndarray:
        """Rows of many keys at once (int64 array); raises one error listing the missing.

        Args:
            keys: The keys.
            allow_missing: Keys that may lack a mask (row ``-1``), e.g. those
                :meth:`failures` lists.
        """
        self._ensure_loaded()
        keys = list(keys)
        allowed = set(allow_missing)
        pos = [self._pos.get(k, -1) for k in keys]
        missing = [k for k, p in zip(keys, pos, strict=True) if p < 0 and k not in allowed]
        if missing:
            raise MissingMaskError(self._missing_message(missing))
        return np.asarray(pos, dtype=np.int64)

    def _missing_message(self, missing: list[str]) -> str:
        shown = ", ".join(repr(k) for k in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        cfg = f" for segmenter config {self.config_id}" if self.config_id else ""
        return (
            f"no mask in cache {str(self.root)!r}{cfg} for {len(missing)} key(s): {shown}{more}. "
            f"Compute them with: segaug-precompute-masks SRC --out {self.root} "
            "[--segmenter NAME] (it skips masks that are already there)"
        )

    def load(self, key: str) -> np.ndarray:
        """The mask of ``key``: uint8 ``(H, W)`` in ``{0, 1}`` (label maps: ids ``0..255``).

        Raises:
            MissingMaskError: If there is no mask for ``key``.
            CorruptMaskError: If the stored bytes fail their checksum.
        """
        return self.load_at(self.position(key))

    def load_at(self, position: int) -> np.ndarray:
        """The mask at index row ``position`` (see :meth:`positions`)."""
        self._ensure_loaded()
        ci = int(self._chunk[position])
        start = int(self._offset[position])
        blob = memoryview(self._payload(ci))[start : start + int(self._nbytes[position])]
        if self.verify and zlib.crc32(blob) != int(self._crc[position]):
            raise CorruptMaskError(
                f"mask {self._keys[position]!r} in {self._chunks[ci].path} failed its checksum; "
                f"re-run segaug-precompute-masks SRC --out {self.root} to recompute it"
            )
        h, w = int(self._height[position]), int(self._width[position])
        return decode_mask(blob, h, w, self._encodings[ci])

    def shape(self, key: str) -> tuple[int, int]:
        """``(H, W)`` the mask of ``key`` is stored at (from the manifest, no decoding)."""
        pos = self.position(key)
        return int(self._height[pos]), int(self._width[pos])

    def coverage(self, key: str) -> float:
        """Foreground (label maps: labelled, non-zero) fraction of the mask of ``key``.

        Read from the manifest, no decoding.
        """
        pos = self.position(key)
        return float(self._coverage[pos])

    def content_hash(self, key: str) -> str:
        """Content hash of the image the mask of ``key`` was computed from."""
        pos = self.position(key)
        return self._hashes[pos]

    def manifest(self) -> list[dict[str, Any]]:
        """One record per live mask: key, hash, height, width, coverage, nbytes, chunk."""
        self._ensure_loaded()
        return [
            {
                "key": k,
                "hash": self._hashes[i],
                "height": int(self._height[i]),
                "width": int(self._width[i]),
                "coverage": float(self._coverage[i]),
                "nbytes": int(self._nbytes[i]),
                "chunk": self._chunks[int(self._chunk[i])].path.name,
            }
            for i, k in enumerate(self._keys)
        ]

    def coverages(self, keys: Iterable[str] | None = None) -> np.ndarray:
        """Coverage of every live mask (or of ``keys`` that are present), float32."""
        self._ensure_loaded()
        if keys is None:
            return self._coverage.copy()
        pos = [self._pos[k] for k in keys if k in self._pos]
        return self._coverage[np.asarray(pos, dtype=np.int64)]

    def region_counts(self, keys: Iterable[str] | None = None) -> np.ndarray:
        """Regions (distinct non-zero ids) of every live mask (or of ``keys`` present), int32.

        From the manifest, no decoding; a binary mask has 1 region (0 when empty).
        """
        self._ensure_loaded()
        if keys is None:
            return self._regions.copy()
        pos = [self._pos[k] for k in keys if k in self._pos]
        return self._regions[np.asarray(pos, dtype=np.int64)]

    def sizes(self) -> np.ndarray:
        """Stored (compressed) bytes of every live mask, int64."""
        self._ensure_loaded()
        return self._nbytes.copy()

    def corrupt_entries(self) -> list[tuple[str, str]]:
        """``(key, chunk file)`` of every live mask whose bytes fail their checksum.

        Reads every mask once (what ``segaug-precompute-masks --verify`` runs).
        """
        self._ensure_loaded()
        bad = []
        for i, key in enumerate(self._keys):
            ci, start = int(self._chunk[i]), int(self._offset[i])
            blob = memoryview(self._payload(ci))[start : start + int(self._nbytes[i])]
            if zlib.crc32(blob) != int(self._crc[i]):
                bad.append((key, str(self._chunks[ci].path)))
        return bad

    def valid_entries(self) -> dict[str, str]:
        """``key -> content hash`` of every live mask whose bytes pass the checksum.

        Used by the precompute step to decide what to skip; corrupt masks are left out
        (and so get recomputed).
        """
        self._ensure_loaded()
        out = {}
        for i, key in enumerate(self._keys):
            ci, start = int(self._chunk[i]), int(self._offset[i])
            blob = memoryview(self._payload(ci))[start : start + int(self._nbytes[i])]
            if zlib.crc32(blob) == int(self._crc[i]):
                out[key] = self._hashes[i]
        return out

    def failures(self) -> dict[str, tuple[str, str]]:
        """``key -> (kind, reason)`` of the items precompute runs could not read.

        ``kind`` is ``"image"`` (the image file cannot be decoded) or ``"mask"`` (its
        annotation file is missing or unusable). A key that has a mask now (a later
        run read it) is not listed. Records of several runs and shards are merged,
        the newest record of a key winning.
        """
        self._ensure_loaded()
        folder = self.root / FAILED_DIR
        paths = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        out: dict[str, tuple[str, str]] = {}
        for path in paths if folder.is_dir() else []:
            try:
                entries = json.loads(path.read_text())["entries"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                warnings.warn(f"mask cache: unreadable record {path} ignored ({err})", stacklevel=2)
                continue
            for key, entry in entries.items():
                out[key] = (str(entry["kind"]), str(entry["reason"]))
        return {k: v for k, v in out.items() if k not in self._pos}

    def record_failures(
        self, failures: dict[str, tuple[str, str]], writer_id: str | None = None
    ) -> Path | None:
        """Write one record of items a run could not read (atomic; see :meth:`failures`).

        Args:
            failures: ``key -> (kind, reason)``, kind one of :data:`FAILURE_KINDS`.
            writer_id: Names the record file (default: host, process and a random tag).

        Returns:
            The record file, or ``None`` when there is nothing to record.
        """
        if not failures:
            return None
        bad = sorted({kind for kind, _ in failures.values()} - set(FAILURE_KINDS))
        if bad:
            raise ValueError(f"failure kinds must be one of {FAILURE_KINDS}, got {bad}")
        self._create()
        (self.root / FAILED_DIR).mkdir(exist_ok=True)
        path = self.root / FAILED_DIR / f"{writer_id or _default_writer_id()}.json"
        record = {"entries": {k: {"kind": kd, "reason": r} for k, (kd, r) in failures.items()}}
        _atomic_write(path, [json.dumps(record, indent=0).encode()])
        return path

    # ------------------------------------------------------------------ writing
    def writer(
        self,
        config_id: str,
        chunk_size: int = 256,
        writer_id: str | None = None,
        label_maps: bool = False,
    ) -> MaskWriter:
        """A :class:`MaskWriter` for masks computed by the segmenter ``config_id``.

        Args:
            config_id: The segmenter's configuration id.
            chunk_size: Masks per chunk (>= 1).
            writer_id: Unique name of the writer (default: host, process, random tag).
            label_maps: Store uint8 label maps (region ids ``0..255``) instead of
                binary masks (a segmenter's :attr:`~segaug.masks.base.Segmenter.label_maps`).

        Example:
            >>> with MaskCache(root).writer(seg.config_id) as w:  # doctest: +SKIP
            ...     w.add("img.png", content_hash(data), mask)
        """
        self._create()
        self.refresh()
        return MaskWriter(self.root, config_id, chunk_size, writer_id, label_maps)

    def _create(self) -> None:
        (self.root / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER_FILE
        if not marker.exists():
            info = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
            _atomic_write(marker, [json.dumps(info).encode()])

    def compact(self) -> int:
        """Rewrite the selected configuration's live, valid masks into one chunk.

        Deletes every other chunk file (superseded entries, other configurations,
        unreadable chunks) and stale temporary files, and merges the records of
        :meth:`failures` into one. Label maps stay label maps. Run it when no writer is
        active.

        Returns:
            The number of masks kept.
        """
        self._ensure_loaded()
        if self.config_id is None:
            return 0
        keep = self.valid_entries()
        failures = self.failures()
        old_records = list((self.root / FAILED_DIR).glob("*.json"))
        old = self._chunk_paths()
        writer = MaskWriter(
            self.root, self.config_id, max(1, len(keep)), "compact", self.label_maps
        )
        for key, digest in keep.items():
            writer.add(key, digest, self.load(key))
        writer.close()
        new = set(self._chunk_paths()) - set(old)
        for path in old:
            if path not in new:
                path.unlink()
        for tmp in (self.root / CHUNK_DIR).glob(".tmp-*"):
            tmp.unlink()
        merged = self.record_failures(failures, "compact")
        for path in old_records:
            if path != merged:
                path.unlink()
        self.refresh()
        return len(keep)

    def __repr__(self) -> str:
        return f"MaskCache({str(self.root)!r})"
