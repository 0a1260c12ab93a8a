"""Bad input fails clearly, before any training step; the CLI parses overrides."""

import pytest
import torch
from helpers.simclr_testutils import tiny_config

from simclr.build import check_config
from simclr.config import Config, apply_overrides, load_config
from simclr.train import NonFiniteLossError, main, parse_args, train


@pytest.mark.parametrize(
    "override,match",
    [
        ("method.name=nope", "unknown method 'nope'"),
        ("data.dataset=nope", "unknown dataset 'nope'"),
        ("augment.recipe=nope", "unknown recipe 'nope'"),
        ("model.backbone=nope", "unknown backbone 'nope'"),
        ("data.batch_size=1", "data.batch_size"),
        ("method.params.temperature=0", "temperature"),
        ("method.params.temperature=-1", "temperature"),
        ("method.params.tau=0.1", "unknown key"),
        ("train.precision=fp16", "needs CUDA"),
        ("train.accumulate=3", "multiple of"),
        ("optim.name=adam", "optim.name"),
        ("data.masks=/nonexistent/cache", "data.masks"),
        ("augment.params.nosuch=1", r"recipe 'thesis' has no parameter 'nosuch'; expected some of"),
        ("augment.params.crop_scale=7", "augment.params"),
        ("data.params.nosuch=1", r"dataset 'synthetic' has no parameter 'nosuch'"),
    ],
)
def test_bad_config_raises_before_training(tmp_path, override, match):
    cfg = tiny_config(tmp_path, override)
    with pytest.raises(ValueError, match=match):
        train(cfg)
    assert not (tmp_path / "last.pt").exists()


def test_mae_needs_vit(tmp_path):
    cfg = tiny_config(tmp_path, "method.name=mae")
    cfg.validate()  # the schema holds; the method's backbone requirement is a registry check
    with pytest.raises(ValueError, match="ViT"):
        check_config(cfg)


def test_unknown_field_and_type_errors():
    with pytest.raises(ValueError, match="unknown field"):
        apply_overrides(Config(), ["optim.learning_rate=0.1"])
    with pytest.raises(ValueError, match="'optim.lr': expected a number"):
        apply_overrides(Config(), ["optim.lr=fast"])
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(Config(), ["lr"])


def test_yaml_and_toml_configs(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("optim:\n  lr: 0.5\nmethod:\n  name: simclr\n  params: {temperature: 0.2}\n")
    cfg = load_config(y, ["data.batch_size=32"])
    assert cfg.optim.lr == 0.5 and cfg.method.params["temperature"] == 0.2
    assert cfg.data.batch_size == 32
    t = tmp_path / "a.toml"
    t.write_text("[train]\nepochs = 3\n")
    assert load_config(t).train.epochs == 3


def test_shipped_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        check_config(load_config(f))


def test_cli_flags_become_overrides():
    args, overrides = parse_args(
        ["--set", "optim.lr=0.5", "--data.batch_size", "64", "--model.width=2", "--accumulate", "4"]
    )
    assert overrides == [
        "optim.lr=0.5",
        "data.batch_size=64",
        "model.width=2",
        "train.accumulate=4",
    ]


def test_cli_reports_errors(tmp_path, capsys):
    assert main(["--set", "method.params.temperature=0", f"train.output_dir={tmp_path}"]) == 2
    assert "temperature" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "train.epochs=3")
    train(apply_overrides(cfg, ["train.epochs=3", "train.max_steps=2"]))  # one clean epoch
    good = torch.load(tmp_path / "last.pt", weights_only=True)
    assert good["step"] == 2

    class PoisonAugment(torch.nn.Module):
        """The configured recipe, but views become NaN from the first step."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def pair(self, images, masks):
            v1, v2 = self.inner.pair(images, masks)
            v1.images = v1.images * float("nan")
            return v1, v2

    from segaug import recipes

    poison = PoisonAugment(recipes.build("thesis", output_size=16))
    with pytest.raises(NonFiniteLossError, match="last good checkpoint"):
        train(cfg, resume=tmp_path, augment=poison)
    after = torch.load(tmp_path / "last.pt", weights_only=True)
    assert after["step"] == 2
    for k, v in good["model"].items():
        assert torch.equal(v, after["model"][k]), k


def test_bad_recipe_param_is_one_line_on_the_command_line(tmp_path, capsys):
    argv = ["--set", f"train.output_dir={tmp_path}", "augment.params.nosuch=1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "crop_scale" in err[0] and "nosuch" in err[0], err
