"""train.yaml handling: schema defaults, overrides, one-line errors with exit code 2."""
import json

import pytest

from trainer import config
from trainer.train import main

SCHEMA = json.loads(config.schema_path().read_text())


def test_defaults_come_from_the_schema(tmp_path):
    p = tmp_path / "train.yaml"
    p.write_text("dataset:\n  name: horse2zebra\n")
    cfg = config.load(p)
    for section in ("train", "model", "checkpoint", "log"):
        for key, spec in SCHEMA["properties"][section]["properties"].items():
            assert cfg[section][key] == spec["default"], (section, key)
    assert cfg["run"] == SCHEMA["properties"]["run"]["default"]
    assert cfg["dataset"]["load_size"] == SCHEMA["properties"]["dataset"]["properties"]["load_size"]["default"]


def test_overrides_are_parsed_as_yaml_and_validated(tmp_path):
    p = tmp_path / "train.yaml"
    p.write_text("dataset: {name: h2z}\ntrain: {lr: 0.1}\n")
    cfg = config.load(p, ["train.lr=1e-3", "train.max_steps=7", "train.flip=false", "model.ngf=8"])
    assert cfg["train"]["lr"] == 0.001 and cfg["train"]["max_steps"] == 7
    assert cfg["train"]["flip"] is False and cfg["model"]["ngf"] == 8


@pytest.mark.parametrize("text, override, expect", [
    ("dataset: {name: h2z}\ntrain: {lrr: 1}\n", None, "unknown key train.lrr"),
    ("dataset: {name: h2z}\n", "train.bogus=1", "unknown key train.bogus"),
    ("dataset: {name: h2z}\n", "train.lr=-1", "train.lr"),
    ("dataset: {name: h2z}\n", "train.lr", "bad override"),
    ("train: {lr: 1}\n", None, "'dataset' is a required property"),
    ("dataset: [unclosed\n", None, "not valid YAML"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, text, override, expect):
    p = tmp_path / "train.yaml"
    p.write_text(text)
    argv = ["--config", str(p), "--root", str(tmp_path / "data")] + (["--set", override] if override else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "; " in err and expect in err
    assert not (tmp_path / "data").exists()  # nothing written


def test_bad_flag_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--confgi", "x"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_a_dotted_key_is_set_the_same_way_by_set_and_by_a_sweep_variant():
    """One setter: missing sections are added, a key below a plain value is refused with each caller's message."""
    from trainer.errors import UsageError
    from trainer.variants import SweepError, Variant, apply
    cfg = {"train": {"lr": 0.1}}
    config.parse_override(cfg, "log.every_steps=5")
    assert cfg == {"train": {"lr": 0.1}, "log": {"every_steps": 5}}
    assert apply(cfg, Variant(0, "v", {"model.ngf": 8, "train.lr": 0.2})) == {
        "train": {"lr": 0.2}, "log": {"every_steps": 5}, "model": {"ngf": 8}}
    with pytest.raises(UsageError, match=r"^override 'train.lr.x=1': 'lr' is not a section; override a key inside a section$"):
        config.parse_override(cfg, "train.lr.x=1")
    with pytest.raises(SweepError, match=r"^v: train.lr.x: lr is not a section of train.yaml; set a key inside a section$"):
        apply(cfg, Variant(0, "v", {"train.lr.x": 1}))
