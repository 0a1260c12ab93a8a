"""segaug-visualize writes a valid PNG grid from a dataset or an image folder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segaug.cli.visualize import main, visualize


def test_visualize_synthetic_dataset_with_gt_masks(tmp_path):
    out = visualize(
        tmp_path / "grid.png", dataset="synthetic", root=str(tmp_path), masks="gt", n=3, size=32
    )
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
    assert w > 4 * 96 and h > 3 * 96  # 4 columns of >= 96 px panels, 3 rows


def test_visualize_flat_image_folder_with_classical_segmenter(tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(data.chelsea()).save(folder / "cat.jpg")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    (folder / "notes.txt").write_text("not an image")
    assert (
        main(
            [
                "--images",
                str(folder),
                "--segmenter",
                "classical",
                "-n",
                "2",
                "--size",
                "48",
                "--out",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
    arr = np.asarray(Image.open(tmp_path / "g.png"))
    assert arr.ndim == 3 and arr.shape[2] in (3, 4)


def test_visualize_reports_bad_input_without_a_traceback(tmp_path, capsys):
    assert main(["--dataset", "cifar10", "--root", str(tmp_path), "--masks", "gt"]) == 2
    assert "cifar-10-batches-py" in capsys.readouterr().err
    with pytest.raises(ValueError, match="give --masks"):
        visualize(tmp_path / "x.png", dataset="synthetic", root=str(tmp_path))
    with pytest.raises(ValueError, match="exactly one of"):
        visualize(tmp_path / "x.png", masks="gt")
