"""The one mask-spec resolver: every spec form, the options, and the error messages.

Forms: ``gt``; ``files:DIR`` with ``?foreground=``/``?background=``/``&suffix=``; a
bare ``files`` with ``root=``; a cache directory (string or path); each segmenter name
with its options, checkpoint and device; built objects and earlier results. Every bad
spec is one ``ValueError`` line that names the argument, what it got and the valid forms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from segaug.data.masked import MaskedDataset, MaskedImageFolder
from segaug.data.synthetic import SyntheticShapes
from segaug.masks import (
    ClassicalSegmenter,
    DeepLabV3Segmenter,
    FileMasks,
    GroundTruthMasks,
    MaskCache,
    SamSegmenter,
    create_mask_source,
    create_segmenter,
    mask_source_from_spec,
    resolve_masks,
)
from segaug.masks.precompute import build_segmenter
from segaug.masks.resolve import expected_forms, parse_source_spec

FORMS = (
    "'gt', 'files:MASK_DIR[?foreground=1,3|background=0,255]', a mask-cache directory or "
    "a segmenter name (classical, deeplabv3, felzenszwalb, sam)"
)


@pytest.fixture(scope="module")
def shapes() -> SyntheticShapes:
    return SyntheticShapes("test", size=32, num_samples=4)


@pytest.fixture(scope="module")
def deeplab_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3
    )
    path = tmp_path_factory.mktemp("deeplab") / "mnv3.pth"
    torch.save(model.state_dict(), path)
    return str(path)


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    assert type(info.value) is ValueError
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------------------- gt


@pytest.mark.parametrize("spec", ["gt", "GT", "gt?"])
def test_gt(shapes, spec):
    unbuilt = resolve_masks(spec, build=False)
    assert (unbuilt.kind, unbuilt.name, unbuilt.options) == ("source", "gt", {})
    assert unbuilt.needs_dataset and not unbuilt.by_path and unbuilt.masks is None
    built = unbuilt.build(shapes)
    assert isinstance(built.masks, GroundTruthMasks) and built.masks.dataset is shapes
    assert np.array_equal(built.masks.mask(1), shapes.get_mask(1))
    assert resolve_masks(spec, dataset=shapes).masks.config_id == built.masks.config_id


def test_gt_errors(shapes):
    message = _error(resolve_masks, "gt", argument="data.masks")
    assert message.startswith("data.masks = 'gt': gt needs dataset=")
    message = _error(resolve_masks, "gt:/x", dataset=shapes)
    assert message.startswith("masks = 'gt:/x': bad option for mask source 'gt'")
    assert "root" in message and "expected the options dataset" in message
    message = _error(MaskedImageFolder, Path(__file__).parent, masks="gt")
    assert message.startswith("masks = 'gt': the 'gt' source looks masks up by dataset index")


# ---------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "query, options, rule",
    [
        ("", {}, {"background": (0,), "foreground": None}),
        ("?foreground=1,3", {"foreground": (1, 3)}, {"foreground": (1, 3)}),
        ("?background=0,255", {"background": (0, 255)}, {"background": (0, 255)}),
        ("?background= 0 , 255,", {"background": (0, 255)}, {"background": (0, 255)}),
        ("?foreground=-1", {"foreground": (-1,)}, {"foreground": (-1,)}),
        ("?foreground=3,1&suffix=.bmp", {"foreground": (3, 1), "suffix": ".bmp"},
         {"foreground": (1, 3), "suffix": ".bmp"}),
        ("?suffix=", {"suffix": ""}, {"suffix": ""}),
    ],
)  # fmt: skip
def test_files(tmp_path, query, options, rule):
    for prefix in ("files:", "FILES:"):
        resolved = resolve_masks(f"{prefix}{tmp_path}{query}")
        assert (resolved.kind, resolved.name) == ("source", "files")
        assert resolved.options == {"root": str(tmp_path), **options}
        assert resolved.by_path and not resolved.needs_dataset
        source = resolved.masks
        assert isinstance(source, FileMasks) and source.root == tmp_path
        for key, value in rule.items():
            assert getattr(source, key) == value, key


def test_files_reads_its_masks(tmp_path):
    Image.fromarray(np.array([[1, 2], [3, 2]], np.uint8)).save(tmp_path / "a.png")
    source = resolve_masks(f"files:{tmp_path}?foreground=1,3").masks
    assert source.lookup(0, "a.jpg").tolist() == [[1, 0], [1, 0]]
    again = mask_source_from_spec(f"files:{tmp_path}?foreground=1,3")
    assert again.config_id == source.config_id


def test_bare_files_takes_its_folder_from_the_options(tmp_path, monkeypatch):
    for make in (create_segmenter, create_mask_source):
        assert make("files", root=tmp_path, foreground=(1, 3)).foreground == (1, 3)
    # options add to and override the spec's (precompute's --option KEY=VALUE)
    source = build_segmenter(f"files:{tmp_path}?foreground=1", foreground=[2])
    assert source.foreground == (2,)
    message = _error(resolve_masks, "files")
    assert message.startswith("masks = 'files': bad option for mask source 'files'")
    assert "root" in message
    # where a cache is accepted, an existing folder named "files" is that cache
    monkeypatch.chdir(tmp_path)
    (tmp_path / "files").mkdir()
    assert resolve_masks("files", build=False).kind == "cache"
    assert resolve_masks("files", kinds=("source", "segmenter"), build=False).kind == "source"


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("files:", "empty folder after 'files:'"),
        ("files:?foreground=1", "empty folder after 'files:'"),
        ("files:/x?foreground=pet", "option 'foreground' must be integers like 1,3, got 'pet'"),
        ("files:/x?background=", "option 'background' must be integers like 1,3, got ''"),
        ("files:/x?foreground", "expected key=value, got 'foreground'"),
        ("files:/x?=1", "expected key=value, got '=1'"),
    ],
)
def test_bad_files_specs(spec, problem):
    form = "'files:MASK_DIR[?foreground=1,3|background=0,255]'"
    message = _error(resolve_masks, spec, argument="--source")
    assert message == f"--source = {spec!r}: {problem}; expected {form}"
    assert _error(parse_source_spec, spec) == f"spec = {spec!r}: {problem}; expected {form}"


def test_files_constructor_errors_name_the_argument(tmp_path):
    message = _error(resolve_masks, "files:/no/such/dir", argument="config 'data.masks'")
    assert message == (
        "config 'data.masks' = 'files:/no/such/dir': root must be an existing mask folder, "
        "got '/no/such/dir'"
    )
    message = _error(resolve_masks, f"files:{tmp_path}?foreground=1&background=0,255")
    assert "not both" in message
    message = _error(resolve_masks, f"files:{tmp_path}?colour=red")
    assert "bad option for mask source 'files'" in message and "colour" in message
    assert message.endswith("expected the options root, foreground, background, suffix")


def test_parse_source_spec():
    assert parse_source_spec("files:/m?foreground=1,3&suffix=.png") == (
        "files", {"root": "/m", "foreground": (1, 3), "suffix": ".png"}
    )  # fmt: skip
    assert parse_source_spec("Gt") == ("gt", {})
    assert "unknown source 'nope'" in _error(parse_source_spec, "nope:/x")
    assert "not a non-empty string" in _error(parse_source_spec, "")


# ---------------------------------------------------------------------------- cache


def test_cache_directory(tmp_path, monkeypatch):
    for spec in (str(tmp_path), tmp_path):
        resolved = resolve_masks(spec)
        assert (resolved.kind, resolved.name) == ("cache", "cache")
        assert isinstance(resolved.masks, MaskCache) and not resolved.by_path
    # a relative folder without a separator is a cache when it exists ...
    monkeypatch.chdir(tmp_path)
    (tmp_path / "masks").mkdir()
    assert resolve_masks("masks").kind == "cache"
    # ... and takes precedence over a segmenter of the same name
    (tmp_path / "classical").mkdir()
    assert resolve_masks("classical", build=False).kind == "cache"
    assert resolve_masks("classical", kinds=("segmenter",), build=False).kind == "segmenter"


def test_bad_cache_directories(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for spec in ("/no/such/cache", str(tmp_path / "file.txt"), Path("/no/such/cache")):
        message = _error(resolve_masks, spec, argument="data.masks")
        shown = repr(str(spec))
        assert message == f"data.masks = {shown}: no such mask-cache directory; expected {FORMS}"
    message = _error(resolve_masks, tmp_path, options={"size": 3})
    assert "a mask cache takes no options, got ['size']" in message
    message = _error(resolve_masks, tmp_path, kinds=("segmenter", "source"), argument="segmenter")
    assert message.startswith(f"segmenter = {str(tmp_path)!r}: a mask cache is not accepted here")


# ----------------------------------------------------------------------- segmenters


def test_classical_with_options():
    for spec in ("classical", "Classical"):
        resolved = resolve_masks(spec, options={"margin": 0.1, "method": "saliency"})
        assert (resolved.kind, resolved.name) == ("segmenter", "classical")
        want = ClassicalSegmenter(margin=0.1, method="saliency").config_id
        assert resolved.masks.config_id == want
    # a device is ignored (weight-free segmenters compute on the CPU); a checkpoint is not
    assert "device" not in resolve_masks("classical", device="cuda", build=False).options
    message = _error(resolve_masks, "classical", checkpoint="x.pth")
    assert message == (
        "checkpoint = 'x.pth': the segmenter 'classical' takes no checkpoint; expected no "
        "checkpoint (only deeplabv3, sam load weights)"
    )
    message = _error(create_segmenter, "classical", margin=0.9)
    assert message.startswith("name = 'classical': margin must be")
    message = _error(create_segmenter, "classical", colour=1)
    assert "bad option for segmenter 'classical'" in message and "colour" in message


def test_deeplabv3_with_checkpoint_and_device(deeplab_checkpoint):
    options = {"backbone": "mobilenet_v3_large", "resolution": 32}
    resolved = resolve_masks(
        "deeplabv3", options=options, checkpoint=Path(deeplab_checkpoint), device="cpu"
    )
    assert resolved.options == {**options, "checkpoint": deeplab_checkpoint, "device": "cpu"}
    seg = resolved.masks
    assert isinstance(seg, DeepLabV3Segmenter) and seg.device == torch.device("cpu")
    direct = create_segmenter("deeplabv3", checkpoint=deeplab_checkpoint, **options)
    assert seg.config_id == direct.config_id
    # a device in the options wins over the default one (precompute's --option device=)
    kept = resolve_masks("deeplabv3", options={"device": "cpu"}, device="cuda", build=False)
    assert kept.options["device"] == "cpu"
    message = _error(resolve_masks, "deeplabv3", options={"backbone": "vgg16"})
    assert message.startswith("masks = 'deeplabv3': backbone must be one of")


def test_sam_with_options():
    pytest.importorskip("segment_anything")
    from test_segmenters import _tiny_sam  # the small SAM of the segmenter tests

    sam = _tiny_sam()
    seg = resolve_masks("sam", options={"model": sam, "prompt": "box"}, device="cpu").masks
    assert isinstance(seg, SamSegmenter)
    assert seg.config_id == SamSegmenter(model=sam, prompt="box").config_id
    assert create_segmenter("sam", model=sam).config_id == SamSegmenter(model=sam).config_id
    unbuilt = resolve_masks("SAM", checkpoint="sam_vit_b.pth", device="cuda", build=False)
    assert unbuilt.options == {"checkpoint": "sam_vit_b.pth", "device": "cuda"}
    message = _error(resolve_masks, "sam", argument="--segmenter")
    assert message.startswith("--segmenter = 'sam': sam needs checkpoint=PATH")
    message = _error(resolve_masks, "sam", options={"model": sam, "mode": "everything"})
    assert message.startswith("masks = 'sam': mode must be one of")


def test_create_segmenter_keeps_its_names(shapes):
    assert isinstance(create_segmenter("classical"), ClassicalSegmenter)
    gt = create_segmenter("gt", dataset=shapes)
    assert isinstance(gt, GroundTruthMasks)
    assert gt.config_id == create_mask_source("gt", dataset=shapes).config_id
    assert "dataset" in _error(create_segmenter, "gt", dataset=None)
    message = _error(create_segmenter, "nope")
    assert message == (
        "name = 'nope': names no mask source or segmenter; expected 'gt', "
        "'files:MASK_DIR[?foreground=1,3|background=0,255]' or a segmenter name "
        "(classical, deeplabv3, felzenszwalb, sam)"
    )
    message = _error(create_mask_source, "classical")
    assert message.startswith("name = 'classical': a segmenter is not accepted here")


# --------------------------------------------------------------- objects and reuse


def test_built_objects_and_earlier_results_pass_through(tmp_path, shapes):
    seg, gt, cache = ClassicalSegmenter(), GroundTruthMasks(shapes), MaskCache(tmp_path)
    for obj, kind in ((seg, "segmenter"), (gt, "source"), (cache, "cache")):
        resolved = resolve_masks(obj)
        assert resolved.kind == kind and resolved.masks is obj
        assert resolve_masks(resolved) is resolved
    assert resolve_masks(FileMasks(tmp_path)).by_path
    message = _error(resolve_masks, cache, argument="segmenter", kinds=("segmenter", "source"))
    assert message.startswith("segmenter = MaskCache(")
    # an unbuilt result keeps its argument name and takes the options given later
    early = resolve_masks(f"files:{tmp_path}", argument="--source", build=False)
    later = resolve_masks(early, argument="segmenter", options={"foreground": "1,3"})
    assert later.argument == "--source" and later.masks.foreground == (1, 3)
    message = _error(resolve_masks, early, kinds=("segmenter",))
    assert message.startswith("--source = ")


@pytest.mark.parametrize("spec", ["nope", "", "gtx", "files/", "deeplab"])
def test_unknown_specs(spec):
    message = _error(resolve_masks, spec, argument="data.masks")
    if spec == "files/":  # has a separator: a cache directory that does not exist
        assert message == f"data.masks = {spec!r}: no such mask-cache directory; expected {FORMS}"
    else:
        assert message == (
            f"data.masks = {spec!r}: names no mask source, mask-cache directory or segmenter; "
            f"expected {FORMS}"
        )


def test_wrong_types_and_kinds():
    message = _error(resolve_masks, 123)
    assert message == (
        "masks = 123: not a spec string, a path, a MaskSource, a MaskCache or a Segmenter "
        f"(got int); expected {FORMS}"
    )
    message = _error(resolve_masks, "sam", kinds=("source",), argument="--source")
    assert message == (
        "--source = 'sam': a segmenter is not accepted here; expected 'gt' or "
        "'files:MASK_DIR[?foreground=1,3|background=0,255]'"
    )
    assert expected_forms(("cache", "segmenter")) == (
        "a mask-cache directory or a segmenter name (classical, deeplabv3, felzenszwalb, sam)"
    )
    message = _error(resolve_masks, "gt", checkpoint="w.pth")
    assert message.startswith("checkpoint = 'w.pth': the mask source 'gt' takes no checkpoint")


# ------------------------------------------------------------------ the five callers


def test_precompute_build_segmenter(tmp_path, shapes):
    assert isinstance(build_segmenter("gt", dataset=shapes), GroundTruthMasks)
    assert isinstance(build_segmenter("classical", device="cuda"), ClassicalSegmenter)
    message = _error(build_segmenter, "gt")
    assert message.startswith("segmenter = 'gt': source 'gt' reads dataset annotations")
    message = _error(build_segmenter, str(tmp_path))
    assert "names no mask source or segmenter" in message


def test_masked_dataset_accepts_every_kind(tmp_path, shapes):
    by_spec = MaskedDataset(shapes, masks="classical", size=16)
    assert isinstance(by_spec.segmenter, ClassicalSegmenter)
    assert torch.equal(by_spec[0][1], MaskedDataset(shapes, ClassicalSegmenter(), size=16)[0][1])
    gt = MaskedDataset(shapes, masks=resolve_masks("gt", build=False), size=16)
    assert gt.gt is not None and torch.equal(gt[1][1], MaskedDataset(shapes, "gt", size=16)[1][1])
    message = _error(MaskedDataset, shapes, masks="nope")
    assert message.startswith("masks = 'nope': names no mask source")


def test_trainer_data_masks(tmp_path):
    from simclr.data import _mask_source

    gt = _mask_source("gt")
    assert gt.needs_dataset and gt.masks is None
    files = _mask_source(f"files:{tmp_path}?foreground=1,3")
    assert isinstance(files.masks, FileMasks) and files.by_path
    assert isinstance(_mask_source("classical").masks, ClassicalSegmenter)
    assert isinstance(_mask_source(str(tmp_path)).masks, MaskCache)
    message = _error(_mask_source, "nope")
    assert message.startswith("config 'data.masks' = 'nope': names no mask source")
    assert "expected 'gt'" in message


def test_visualize_reads_specs_once(tmp_path):
    from segaug.cli.visualize import _mask_source

    assert _mask_source(f"files:{tmp_path}", None, None, "cpu").by_path
    assert not _mask_source("gt", None, None, "cpu").by_path
    seg = _mask_source("gt", "classical", None, "cpu")  # the segmenter wins
    assert isinstance(seg.masks, ClassicalSegmenter)
    message = _error(_mask_source, None, "gt", None, "cpu")
    assert message.startswith("segmenter = 'gt': a mask source is not accepted here")
