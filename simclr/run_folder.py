"""A run folder is claimed before anything is written to it: a finished run is never lost.

``simclr-train`` refuses an ``output_dir`` that already holds a run unless it resumes it
or ``--overwrite`` empties it first, so the most common mistake after a crash, running
the same command again, stops with one line that names the ways forward instead of
silently replacing ``last.pt``, the config and the logs.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> run = Path(tempfile.mkdtemp())
    >>> claim_run_folder(run, resume=False, overwrite=False)  # empty: fine
    >>> _ = (run / "last.pt").write_bytes(b"")
    >>> claim_run_folder(run, resume=False, overwrite=False)
    Traceback (most recent call last):
    ...
    simclr.run_folder.RunFolderError: train.output_dir = ... holds a run (last.pt); ...
    >>> claim_run_folder(run, resume=False, overwrite=True)
    >>> sorted(run.iterdir())
    []
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["RUN_FILES", "UNREADABLE_LOG", "RunFolderError", "claim_run_folder", "run_files_in"]

RUN_FILES = ("last.pt", "config.yaml", "metrics.csv", "epochs.csv")

UNREADABLE_LOG = "unreadable_images.txt"
"""The run folder's list of image files left out because they cannot be read."""
"""Files whose presence means a folder holds a ``simclr-train`` run (and ``epoch_*.pt``)."""


class RunFolderError(ValueError):
    """The folder holds a run, and neither resuming nor overwriting was asked for."""


def run_files_in(folder: Path) -> list[str]:
    """The run files ``folder`` holds (``RUN_FILES`` and checkpoints ``epoch_*.pt``)."""
    if not folder.is_dir():
        return []
    found = [name for name in RUN_FILES if (folder / name).exists()]
    return found + sorted(p.name for p in folder.glob("epoch_*.pt"))


def claim_run_folder(
    folder: str | os.PathLike[str],
    *,
    resume: bool,
    overwrite: bool,
    argument: str = "train.output_dir",
) -> None:
    """Make sure writing a new run into ``folder`` loses nothing; empty it on ``overwrite``.

    Args:
        folder: The run directory.
        resume: The run continues from a checkpoint (then the folder may hold a run).
        overwrite: Empty a folder that holds a run before the new run starts.
        argument: How the caller names the folder in messages.

    Raises:
        ValueError: ``resume`` and ``overwrite`` together, or ``folder`` is a file.
        RunFolderError: The folder holds a run and neither flag was given (one line
            naming the folder, what it holds and the three ways forward).
    """
    path = Path(folder)
    if resume and overwrite:
        raise ValueError("--overwrite and --resume: pick one (resume continues a run, "
                         "overwrite replaces it)")  # fmt: skip
    if path.exists() and not path.is_dir():
        raise ValueError(f"{argument} = '{path}': a file, not a folder")
    held = run_files_in(path)
    if not held or resume:
        return
    if not overwrite:
        shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
        raise RunFolderError(
            f"{argument} = '{path}' holds a run ({shown}); continue it with --resume "
            f"{path}, replace it with --overwrite, or choose another {argument}"
        )
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
