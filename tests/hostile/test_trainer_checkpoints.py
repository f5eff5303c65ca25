"""Checkpoints are untrusted data (a shared volume, a killed pod, another version's files): each is loaded
with weights_only and checked against the networks its own config describes before anything uses it. A bad
newest checkpoint is reported in one warning line and the previous one resumed; when none is usable the
run stops with one error line and leaves every file as it was."""
import shutil

import pytest
import torch

from trainer import checkpoint as ckpt
from trainer.train import main
from trainer.translate import main as translate_main
from trainer_hostile import Run, refused, snapshot, tiny_run

NEWEST, GOOD = "step_000000008.pt", "step_000000004.pt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run with checkpoints at steps 4 and 8 (two epochs of four images)."""
    root = tmp_path_factory.mktemp("trained")
    _, cfg = tiny_run(root, train={"epochs": 2, "epochs_decay": 0})
    assert main(["--config", str(cfg), "--root", str(root)]) == 0
    return root, cfg


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run: (root, config, checkpoints folder)."""
    root, cfg = trained
    shutil.copytree(root / "runs", tmp_path / "runs")
    return tmp_path, cfg, tmp_path / "runs" / "t" / "checkpoints"


def tampered(path, change):
    """Save change(state) in place of the checkpoint; change edits the state in place or returns a new one."""
    state = torch.load(path, weights_only=True)
    new = change(state)
    torch.save(state if new is None or isinstance(new, torch.Tensor) else new, path)


class Opaque:  # pickled as a class instance: weights_only refuses it
    pass


def set_in(keys, value):
    def change(state):
        node = state
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return change


def first_param(state):
    return next(iter(state["nets"]["G_A"]))


CASES = {
    "garbage bytes": (None, "UnpicklingError"),
    "truncated": (None, "unreadable"),
    "a missing key": (lambda s: s.pop("opt_G") and None, "missing opt_G"),
    "a config that is not a mapping": (set_in(["config"], ["model", 4]), "its config is not a mapping"),
    "a model section with wrong types": (set_in(["config", "model", "ngf"], "4"), "is not a valid model"),
    "weights that do not match their config": (set_in(["config", "model", "ngf"], 8), "nets.G_A.model.1.weight is not a float tensor of shape (8, 3, 7, 7)"),
    "a tensor that is a list": (lambda s: s["nets"]["D_B"].__setitem__("model.0.bias", [0.0] * 4), "nets.D_B.model.0.bias is not a float tensor"),
    "NaN weights": (lambda s: s["nets"]["G_B"][first_param(s)].fill_(float("nan")), "nets.G_B holds NaN or infinite weights"),
    "optimiser moments of another shape": (lambda s: s["opt_G"]["state"][0].__setitem__("exp_avg", torch.zeros(3)), "opt_G state 0.exp_avg does not match"),
    "a step that is text": (set_in(["step"], "8"), "step is '8', not a count"),
    "broken RNG states": (set_in(["ranks"], [{"rng": {"torch": torch.zeros(3)}, "pools": {}}]), "ranks[0]: unusable pools or RNG states"),
    "a list instead of a mapping": (lambda s: [s["nets"], s["config"]], "not a mapping but list"),
    "a pickled class instance": (lambda s: s.__setitem__("extra", Opaque()), "Unsupported global: GLOBAL test_trainer_checkpoints.Opaque"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_newest_checkpoint_falls_back_to_the_previous(run, capsys, case):
    root, cfg, folder = run
    change, reason = CASES[case]
    newest = folder / NEWEST
    if case == "garbage bytes":
        newest.write_bytes(b"\x80\x04garbage" * 100)
    elif case == "truncated":
        newest.write_bytes(newest.read_bytes()[:5000])
    else:
        tampered(newest, change)
    good = (folder / GOOD).read_bytes()
    assert main(["--config", str(cfg), "--root", str(root), "--set", "train.epochs=3"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: checkpoint {newest} is unreadable"), err
    assert reason in lines[0] and "trying the previous one" in lines[0] and "Traceback" not in err
    assert f"resumed from {folder / GOOD} at epoch 2 step 4" in out and "done: run t at step 12" in out
    assert (folder / GOOD).read_bytes() == good
    assert ckpt.read(folder / NEWEST)["step"] == 8  # rewritten by the resumed run: a good one again


def test_no_usable_checkpoint_stops_and_changes_nothing(run, capsys):
    root, cfg, folder = run
    tampered(folder / NEWEST, set_in(["config"], "not a mapping"))
    tampered(folder / GOOD, lambda s: s.pop("nets") and None)
    before = snapshot(root / "runs")
    code = main(["--config", str(cfg), "--root", str(root), "--set", "train.epochs=3"])
    out, err = capsys.readouterr()
    refused(Run(code, out, err), f"no readable checkpoint in {folder} (2 corrupt)", "delete that folder")
    assert len(err.splitlines()) == 3  # a warning per checkpoint, then the error
    assert snapshot(root / "runs") == before


def test_a_checkpoint_of_another_architecture_is_refused_with_the_fix(run, capsys):
    root, cfg, folder = run
    before = snapshot(root / "runs")
    code = main(["--config", str(cfg), "--root", str(root), "--set", "model.n_blocks=2", "--set", "train.epochs=3"])
    refused(Run(code, *capsys.readouterr()), "was trained with model", "start a new run with another `run` name")
    assert snapshot(root / "runs") == before


def test_translate_refuses_a_bad_checkpoint_file_and_skips_a_bad_newest_in_a_run(run, capsys, tmp_path):
    root, _, folder = run
    tampered(folder / NEWEST, set_in(["nets", "G_A"], {"model.1.weight": torch.zeros(1)}))
    images = root / "h2z" if (root / "h2z").exists() else None
    data, _ = tiny_run(tmp_path)
    common = ["--input", str(images or data / "trainA"), "--size", "16"]
    code = translate_main(["--checkpoint", str(folder / NEWEST), "--output", str(tmp_path / "a")] + common)
    refused(Run(code, *capsys.readouterr()), f"cannot read checkpoint {folder / NEWEST}",
            "nets.G_A does not have the keys", "pass a complete step_N.pt file or the run folder")
    assert not (tmp_path / "a").exists()
    assert translate_main(["--checkpoint", str(root / "runs" / "t"), "--output", str(tmp_path / "b")] + common) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"warning: checkpoint {folder / NEWEST} is unreadable") and err.count("\n") == 1
    assert len(list((tmp_path / "b").glob("*.png"))) == 4
