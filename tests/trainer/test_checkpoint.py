"""Checkpoints on the shared volume: written atomically, the last K kept, read as untrusted data (weights_only,
every part checked against the networks its own config describes) and, on resume, the newest readable one
used after one warning line per unreadable newer one.

The checkpoint here is assembled as train.py assembles it, for the tiny networks of the trainer tests after
one optimiser step, so each test changes one part of a real checkpoint and reads the exact refusal."""
import copy
import os
import pickle
import re
import threading
import warnings

import pytest
import torch

from trainer import checkpoint as ckpt
from trainer.errors import UsageError
from trainer.models import build
from trainer.pool import ImagePool
from trainer.step import optimizers
from trainer.train import rng_state

MODEL = {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2}


@pytest.fixture(scope="module")
def good() -> dict:
    """A complete checkpoint of the tiny model, as train.py writes it (CPU, one process)."""
    torch.manual_seed(0)
    nets = build(MODEL)
    opt_G, opt_D = optimizers(nets, 2e-4, 0.5)
    for net in nets.values():
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.1)
    opt_G.step()
    opt_D.step()
    sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, lambda e: 1.0)
    sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, lambda e: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    pools = {d: ImagePool(2, seed=f"0/0/{d}") for d in "AB"}
    pools["A"].query(torch.rand(1, 3, 16, 16))
    ranks = [{"pools": {d: pools[d].state_dict() for d in "AB"}, "rng": rng_state(torch.device("cpu")),
              "fingerprint": "0" * 64}]
    state = {"version": 1, "config": {"run": "t", "model": dict(MODEL)}, "epoch": 0, "seen": 4, "step": 4,
             "world": 1, "nets": {k: {n: v.cpu() for n, v in net.state_dict().items()} for k, net in nets.items()},
             "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
             "sched_G": sched_G.state_dict(), "sched_D": sched_D.state_dict(),
             "scaler": scaler.state_dict(), "ranks": ranks}
    assert ckpt.check(state) is None
    return state


@pytest.fixture
def state(good) -> dict:
    return copy.deepcopy(good)


def n_params(names) -> int:
    nets = build(MODEL)
    return sum(1 for n in names for _ in nets[n].parameters())


def setter(*keys, value):
    def change(s):
        node = s
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return change


def popper(*keys):
    def change(s):
        node = s
        for key in keys[:-1]:
            node = node[key]
        for key in keys[-1:]:
            del node[key]
    return change


def first(net):
    return lambda s: next(iter(s["nets"][net]))


def on_first(net, fn):
    return lambda s: fn(s["nets"][net][first(net)(s)])


LONG_MODEL = {"ngf": "x" * 300, "ndf": 4, "n_blocks": 1, "n_layers_d": 2}

REFUSED = {
    "a list, not a mapping": (lambda s: [s["nets"]], "not a mapping but list"),
    "missing parts": (lambda s: [s.pop("opt_G"), s.pop("step")] and None, "missing opt_G, step"),
    "a step that is text": (setter("step", value="8"), "step is '8', not a count"),
    "a negative epoch": (setter("epoch", value=-1), "epoch is -1, not a count"),
    "a boolean count": (setter("seen", value=True), "seen is True, not a count"),
    "a config that is a list": (setter("config", value=["model", MODEL]), "its config is not a mapping with a model section"),
    "a config without model": (popper("config", "model"), "its config is not a mapping with a model section"),
    "a model that is a list": (setter("config", "model", value=[4, 4]), "its config is not a mapping with a model section"),
    "a model without a key": (popper("config", "model", "n_layers_d"),
                              "its model section {'ngf': 4, 'ndf': 4, 'n_blocks': 1} is not a valid model"),
    "a model with a text size": (setter("config", "model", "ngf", value="4"),
                                 "its model section {'ngf': '4', 'ndf': 4, 'n_blocks': 1, 'n_layers_d': 2} is not a valid model"),
    "a model with a zero size": (setter("config", "model", "ndf", value=0),
                                 "its model section {'ngf': 4, 'ndf': 0, 'n_blocks': 1, 'n_layers_d': 2} is not a valid model"),
    "a model with an unknown key": (setter("config", "model", "norm", value="batch"),
                                    "its model section {'ngf': 4, 'ndf': 4, 'n_blocks': 1, 'n_layers_d': 2, 'norm': 'batch'} "
                                    "is not a valid model"),
    "a long model section, quoted in part": (setter("config", "model", value=LONG_MODEL),
                                             f"its model section {str(LONG_MODEL)[:100]} is not a valid model"),
    "nets that are a list": (setter("nets", value=[]), "nets must be G_A, G_B, D_A, D_B"),
    "a net missing": (popper("nets", "D_B"), "nets must be G_A, G_B, D_A, D_B"),
    "a net that is a list": (setter("nets", "G_A", value=[]),
                             "nets.G_A does not have the keys of the networks its config describes"),
    "a net missing a tensor": (popper("nets", "G_B", "model.1.bias"),
                               "nets.G_B does not have the keys of the networks its config describes"),
    "a net with an extra tensor": (setter("nets", "D_A", "extra.weight", value=torch.zeros(1)),
                                   "nets.D_A does not have the keys of the networks its config describes"),
    "weights of another config": (setter("config", "model", "ngf", value=8),
                                  "nets.G_A.model.1.weight is not a float tensor of shape (8, 3, 7, 7)"),
    "a tensor that is a list": (setter("nets", "D_B", "model.0.bias", value=[0.0] * 4),
                                "nets.D_B.model.0.bias is not a float tensor of shape (4,)"),
    "an integer tensor": (setter("nets", "G_B", "model.1.weight", value=torch.zeros(4, 3, 7, 7, dtype=torch.long)),
                          "nets.G_B.model.1.weight is not a float tensor of shape (4, 3, 7, 7)"),
    "a tensor of another shape": (setter("nets", "D_A", "model.0.weight", value=torch.zeros(4, 3, 3, 3)),
                                  "nets.D_A.model.0.weight is not a float tensor of shape (4, 3, 4, 4)"),
    "NaN weights": (on_first("G_B", lambda t: t.view(-1)[3].fill_(float("nan"))), "nets.G_B holds NaN or infinite weights"),
    "infinite weights": (on_first("D_A", lambda t: t.view(-1)[0].fill_(float("inf"))), "nets.D_A holds NaN or infinite weights"),
    "an optimiser that is a list": (setter("opt_G", value=[]), "opt_G is not an optimiser state"),
    "an optimiser state that is a list": (setter("opt_D", "state", value=[]), "opt_D is not an optimiser state"),
    "optimiser groups that are a mapping": (setter("opt_G", "param_groups", value={}), "opt_G is not an optimiser state"),
    "two optimiser groups": (lambda s: s["opt_G"]["param_groups"].append(dict(s["opt_G"]["param_groups"][0])),
                             f"opt_G does not cover the {n_params(('G_A', 'G_B'))} parameters of its networks"),
    "no optimiser group": (setter("opt_D", "param_groups", value=[]),
                           f"opt_D does not cover the {n_params(('D_A', 'D_B'))} parameters of its networks"),
    "a group that is a list": (lambda s: s["opt_G"].__setitem__("param_groups", [list(range(n_params(("G_A", "G_B"))))]),
                               f"opt_G does not cover the {n_params(('G_A', 'G_B'))} parameters of its networks"),
    "a group short of one parameter": (lambda s: s["opt_D"]["param_groups"][0]["params"].pop(),
                                       f"opt_D does not cover the {n_params(('D_A', 'D_B'))} parameters of its networks"),
    "state past the last parameter": (lambda s: s["opt_G"]["state"].__setitem__(n_params(("G_A", "G_B")), {}),
                                      f"opt_G has state for an unknown parameter {n_params(('G_A', 'G_B'))}"),
    "state for a negative parameter": (lambda s: s["opt_G"]["state"].__setitem__(-1, {}),
                                       "opt_G has state for an unknown parameter -1"),
    "state for a parameter named by text": (lambda s: s["opt_D"]["state"].__setitem__("0", s["opt_D"]["state"].pop(0)),
                                            "opt_D has state for an unknown parameter '0'"),
    "moments that are a list": (setter("opt_G", "state", 0, value=[]), "opt_G has state for an unknown parameter 0"),
    "moments of another shape": (setter("opt_G", "state", 0, "exp_avg", value=torch.zeros(3)),
                                 "opt_G state 0.exp_avg does not match its parameter's shape"),
    "moments that are a list of numbers": (setter("opt_D", "state", 1, "exp_avg_sq", value=[0.0]),
                                           "opt_D state 1.exp_avg_sq does not match its parameter's shape"),
    "moments of the other networks": (lambda s: s["opt_D"]["state"].__setitem__(0, s["opt_G"]["state"][0]),
                                      "opt_D state 0.exp_avg does not match its parameter's shape"),
    "a schedule that is a list": (setter("sched_G", value=[]), "sched_G is not a learning-rate schedule"),
    "a schedule at a negative epoch": (setter("sched_D", "last_epoch", value=-1), "sched_D is not a learning-rate schedule"),
    "a schedule without its epoch": (popper("sched_G", "last_epoch"), "sched_G is not a learning-rate schedule"),
    "a schedule with base rates as a tuple": (setter("sched_D", "base_lrs", value=(2e-4,)),
                                              "sched_D is not a learning-rate schedule"),
    "a schedule without base rates": (popper("sched_G", "base_lrs"), "sched_G is not a learning-rate schedule"),
    "a scaler that is a list": (setter("scaler", value=[]), "scaler is not a mapping"),
    "ranks that are a mapping": (setter("ranks", value={}), "ranks is not a list of per-process states"),
    "no ranks": (setter("ranks", value=[]), "ranks is not a list of per-process states"),
    "a second rank that is empty": (lambda s: s["ranks"].append({}), "ranks[1]: unusable pools or RNG states (KeyError)"),
    "a torch RNG state of floats": (setter("ranks", 0, "rng", "torch", value=torch.zeros(3)),
                                    "ranks[0]: unusable pools or RNG states (TypeError)"),
    "a torch RNG state cut short": (setter("ranks", 0, "rng", "torch", value=torch.zeros(3, dtype=torch.uint8)),
                                    "ranks[0]: unusable pools or RNG states (RuntimeError)"),
    "a numpy RNG key of another length": (lambda s: s["ranks"][0]["rng"].__setitem__(
        "numpy", (*s["ranks"][0]["rng"]["numpy"][:1], torch.zeros(5, dtype=torch.int64), *s["ranks"][0]["rng"]["numpy"][2:])),
        "ranks[0]: unusable pools or RNG states (IndexError)"),
    "a python RNG state of another version": (setter("ranks", 0, "rng", "python", value=(2, (1, 2), None)),
                                              "ranks[0]: unusable pools or RNG states (ValueError)"),
    "a pool RNG state that is a number": (setter("ranks", 0, "pools", "B", "rng", value=7),
                                          "ranks[0]: unusable pools or RNG states (TypeError)"),
    "pool images that are a number": (setter("ranks", 0, "pools", "A", "images", value=3),
                                      "ranks[0]: unusable pools or RNG states (TypeError)"),
    "a pool image without its batch axis": (setter("ranks", 0, "pools", "B", "images", value=[torch.zeros(3, 16, 16)]),
                                            "ranks[0]: pool images are not image tensors"),
    "a pool image of integers": (setter("ranks", 0, "pools", "A", "images", value=[torch.zeros(1, 3, 16, 16, dtype=torch.uint8)]),
                                 "ranks[0]: pool images are not image tensors"),
    "a pool image that is a list": (setter("ranks", 0, "pools", "B", "images", value=[[0.0]]),
                                    "ranks[0]: pool images are not image tensors"),
    "a CUDA RNG state that is text": (setter("ranks", 0, "rng", "cuda", value="seed"), "ranks[0]: unusable CUDA RNG state"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_check_names_what_is_wrong(state, case):
    change, message = REFUSED[case]
    new = change(state)
    assert ckpt.check(new if isinstance(new, list) else state) == message


ACCEPTED = {
    "as written": lambda s: None,
    "counts of zero (the first epoch, before any step)": lambda s: s.update(epoch=0, seen=0, step=0),
    "a schedule at epoch 0": setter("sched_G", "last_epoch", value=0),
    "an optimiser before its first step": lambda s: s["opt_G"]["state"].clear(),
    "a CUDA RNG state": setter("ranks", 0, "rng", "cuda", value=torch.zeros(16, dtype=torch.uint8)),
    "two ranks": lambda s: s["ranks"].append(copy.deepcopy(s["ranks"][0])),
    "empty pools": lambda s: [p["images"].clear() for p in s["ranks"][0]["pools"].values()] and None,
    "parts it does not know": setter("notes", value={"host": "node-1"}),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_check_accepts_what_train_writes(state, case):
    ACCEPTED[case](state)
    assert ckpt.check(state) is None


def test_save_writes_a_readable_checkpoint_and_keeps_the_newest(state, tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (1, 2, 3, 4):
        state["step"] = step
        path = ckpt.save(folder, state, step, keep=2)
        assert path == folder / f"step_{step:09d}.pt"
    assert sorted(p.name for p in folder.iterdir()) == ["step_000000003.pt", "step_000000004.pt"]  # no temp files
    back = ckpt.read(folder / "step_000000004.pt")
    assert back["step"] == 4 and back["config"] == state["config"]
    for name, tensors in state["nets"].items():
        assert all(torch.equal(back["nets"][name][k], v) for k, v in tensors.items())


def test_two_writers_pruning_one_folder_never_fail(tmp_path):
    """A preempted pod still writing while its replacement starts: both prune the same old files."""
    folder, errors = tmp_path / "checkpoints", []

    def writer(first):
        try:
            for step in range(first, first + 15):
                ckpt.save(folder, {"step": step, "w": torch.zeros(1)}, step, keep=1)
        except Exception as e:  # noqa: BLE001 (the test reports it)
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(100 * i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in ckpt.listing(folder)] == ["step_000000314.pt"]


def test_listing_is_newest_step_first_and_only_checkpoints(tmp_path):
    assert ckpt.listing(tmp_path / "absent") == []
    for name in ("step_8.pt", "step_10.pt", "step_000000009.pt", "step_x.pt", "step_5.pt.tmp",
                 ".step_6.pt.abc.tmp", "notes.txt", "latest_step_7.pt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in ckpt.listing(tmp_path)] == ["step_10.pt", "step_000000009.pt", "step_8.pt"]


def test_read_refuses_a_checkpoint_that_fails_its_check(state, tmp_path):
    del state["nets"]["G_A"]["model.1.weight"]
    path = ckpt.save(tmp_path, state, 4, keep=3)
    with pytest.raises(ValueError, match=r"^nets\.G_A does not have the keys of the networks its config describes$"):
        ckpt.read(path)


class Runs:
    """Unpickling it calls os.mkdir(path): what a hostile file on a shared volume would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_read_never_runs_code_from_the_file(state, tmp_path):
    marker = tmp_path / "ran"
    state["extra"] = Runs(str(marker))
    path = tmp_path / "step_000000004.pt"
    torch.save(state, path)
    with pytest.raises(pickle.UnpicklingError, match="unsupported GLOBAL posix.mkdir"):
        ckpt.read(path)
    assert not marker.exists()


def test_read_of_another_pickle_protocol_warns_nothing(state, tmp_path):
    """torch notes an unusual pickle protocol with a warning: it would add lines to a one-line report."""
    path = tmp_path / "step_000000004.pt"
    torch.save(state, path, pickle_protocol=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ckpt.read(path)["step"] == 4
    assert [str(w.message) for w in caught] == []


@pytest.fixture
def run(good, tmp_path):
    """A checkpoints folder with good checkpoints at steps 4 and 8."""
    folder = tmp_path / "checkpoints"
    for step in (4, 8):
        ckpt.save(folder, {**good, "step": step}, step, keep=3)
    return folder


def test_load_latest_reads_the_newest(run):
    lines = []
    state, path = ckpt.load_latest(run, log=lines.append)
    assert (path, state["step"], lines) == (run / "step_000000008.pt", 8, [])


def test_load_latest_without_checkpoints_starts_fresh(tmp_path):
    lines = []
    assert ckpt.load_latest(tmp_path / "absent", log=lines.append) == (None, None)
    (tmp_path / "empty").mkdir()
    assert ckpt.load_latest(tmp_path / "empty", log=lines.append) == (None, None)
    assert lines == []


def test_a_newest_that_fails_its_check_falls_back_with_one_warning(run, good):
    newest = run / "step_000000008.pt"
    bad = {k: v for k, v in good.items() if k != "nets"}
    torch.save(bad, newest)
    lines = []
    state, path = ckpt.load_latest(run, log=lines.append)
    assert (path, state["step"]) == (run / "step_000000004.pt", 4)
    assert lines == [f"warning: checkpoint {newest} is unreadable (ValueError: missing nets); trying the previous one"]


def test_an_empty_newest_falls_back_with_one_warning(run):
    newest = run / "step_000000008.pt"
    newest.write_bytes(b"")
    lines = []
    assert ckpt.load_latest(run, log=lines.append)[1] == run / "step_000000004.pt"
    assert lines == [f"warning: checkpoint {newest} is unreadable (EOFError: ); trying the previous one"]


class Opaque:  # pickled as a class instance: weights_only refuses it
    pass


def test_a_refused_pickle_is_reported_in_one_short_line(run, good, capsys):
    newest = run / "step_000000008.pt"
    torch.save({**good, "extra": Opaque()}, newest)
    state, path = ckpt.load_latest(run)  # the default log: stderr
    assert path == run / "step_000000004.pt"
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "\x1b" not in err
    found = re.fullmatch(rf"warning: checkpoint {re.escape(str(newest))} is unreadable \(UnpicklingError: (.*)\); "
                         r"trying the previous one\n", err)
    assert found, err
    reason = found.group(1)
    assert reason.startswith(f"Unsupported global: GLOBAL {Opaque.__module__}.Opaque was not an allowed global")
    assert len(reason) == 160  # torch's line is longer: cut


def test_no_readable_checkpoint_refuses_to_start_over(run):
    for path in run.iterdir():
        path.write_bytes(path.read_bytes()[:5000])  # truncated
    lines = []
    with pytest.raises(UsageError) as refused:
        ckpt.load_latest(run, log=lines.append)
    assert str(refused.value) == (f"no readable checkpoint in {run} (2 corrupt); "
                                  "delete that folder to start the run over, or pick another run name")
    assert [line.split(" is unreadable")[0] for line in lines] == [
        f"warning: checkpoint {run / 'step_000000008.pt'}", f"warning: checkpoint {run / 'step_000000004.pt'}"]
