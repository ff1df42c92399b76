"""The training config: TOML + CLI overrides, every invalid value reported at once, saved with the run."""

from __future__ import annotations

import pytest

from edgefuse.train.config import ConfigError, TrainConfig, load_config


def test_defaults_are_valid_and_resolve_the_small_preset():
    config = TrainConfig()
    assert config.model_dims() == {"dim": 128, "conv_widths": (32, 64, 128), "text_layers": 2, "fusion_layers": 1}
    assert TrainConfig(preset="base").model_dims()["dim"] == 256
    assert TrainConfig(preset="base", dim=64).model_dims()["dim"] == 64  # explicit values win over the preset


def test_every_problem_is_reported_at_once_with_field_and_allowed_values():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"epochs": 0, "fusion": "sum", "lr": "fast", "modality_dropout": {"smell": 0.1}, "colour": "RGB", "class_weights": "auto"})
    message = str(info.value)
    assert "epochs: must be in [1, 100000], got 0" in message
    assert "fusion: must be one of attention, concat, late, gated, got 'sum'" in message
    assert "lr: expected a number, got 'fast'" in message
    assert "modality_dropout: unknown modalities ['smell']; allowed: image, audio, text" in message
    assert "unknown field 'colour'" in message
    assert "class_weights: must be one of none, balanced" in message


def test_mel_bands_must_stay_below_nyquist():
    assert TrainConfig(sample_rate=22050, mel_f_max=11025.0).mel_f_max == 11025.0
    with pytest.raises(ConfigError, match=r"mel_f_max: must be in \[40.0, 4000.0\], got 4500.0"):
        TrainConfig(sample_rate=8000, mel_f_max=4500.0)


def test_toml_then_cli_overrides(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('fusion = "gated"\nepochs = 3\nconv_widths = [8, 16]\nmodality_dropout = { image = 0.5 }\n', encoding="utf-8")
    config = load_config(path, {"epochs": "5", "lr": "1e-3"})  # CLI values arrive as strings
    assert (config.fusion, config.epochs, config.lr, config.conv_widths) == ("gated", 5, 1e-3, (8, 16))
    assert config.modality_dropout == {"image": 0.5, "audio": 0.4, "text": 0.6}
    assert load_config(None, {"modality_dropout": "0.3"}).modality_dropout == {"image": 0.3, "audio": 0.3, "text": 0.3}
    assert load_config(None, {"modality_dropout": "audio=0.1,text=0.2"}).modality_dropout == {"image": 0.55, "audio": 0.1, "text": 0.2}


def test_a_train_table_is_read_and_bad_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nseed = 7\n", encoding="utf-8")
    assert load_config(path).seed == 7
    path.write_text("seed = = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_to_toml_round_trips(tmp_path):
    config = TrainConfig(fusion="late", conv_widths=(8, 16), modality_dropout={"image": 0.1, "audio": 0.2, "text": 0.3}, color_order="BGR")
    path = tmp_path / "train.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_config(path) == config
    assert TrainConfig.from_dict(config.to_dict()) == config  # the JSON form in config.json, too


def test_cli_reports_invalid_values_as_one_line_with_exit_code_2(tmp_path, capsys):
    from edgefuse.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--epochs", "-1", "--lr", "x", "--patience", "1.5"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "epochs: must be in" in err and "lr: expected a number" in err and "patience: expected an integer" in err
