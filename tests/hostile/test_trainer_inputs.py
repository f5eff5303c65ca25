"""Careless and hostile input to `python -m trainer.train|prepare|translate`: each is one `error:` line with
its fix and exit code 2, no traceback, nothing written. The config goes through the bounded YAML loader
(trainer/safe_yaml.py); numbers must be finite and inside the schema's sane bounds; --root and --output
are proved writable before any work; --device must name a device this machine has."""
import os
import subprocess
import time

import pytest
import torch

from trainer import cli, volume
from trainer.errors import UsageError
from trainer.train import main as train_main
from trainer.translate import main as translate_main
from trainer.models import ResnetGenerator
from trainer_hostile import PYTHON, REPO, ENV, Run, SmallVolume, refused, snapshot, tiny_run, trainer


def called(capsys, main, *argv) -> Run:
    start = time.perf_counter()
    code = main([str(a) for a in argv])
    return Run(code, *capsys.readouterr(), time.perf_counter() - start)


BOMB = "dataset: {name: h2z}\n" + "\n".join(
    [f"a0: &a0 [{', '.join(['x'] * 9)}]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)])


@pytest.mark.parametrize("content, expected", [
    (b"run: \xff\xfe\ndataset: {name: h2z}\n", ["is not UTF-8 text (byte 5 is 0xff)", "save it as UTF-8"]),
    (BOMB.encode(), ["expands to more than 100,000 YAML nodes", "remove the aliases"]),
    (b"dataset: " + b"[" * 200 + b"]" * 200, ["nests deeper than 64 levels"]),
    (b"dataset: {name: h2z}\nrun: a\x00b\n", ["not valid YAML", "'\\x00'"]),
    (b"- a list\n- not a mapping\n", ["must be a mapping at the top level"]),
])
def test_config_files_that_are_not_a_train_yaml(tmp_path, capsys, content, expected):
    (tmp_path / "train.yaml").write_bytes(content)
    run = called(capsys, train_main, "--config", tmp_path / "train.yaml", "--root", tmp_path / "data")
    refused(run, *expected)
    assert run.seconds < 5 and not (tmp_path / "data").exists()


def test_a_fifo_or_device_as_config_does_not_hang(tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", "/dev/zero", tmp_path):
        run = called(capsys, train_main, "--config", path, "--root", tmp_path / "data")
        refused(run, "pass a")
        assert run.seconds < 5
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("override, expected", [
    ("train.lr=.nan", "train.lr is nan, not a finite number"),
    ("train.lr=1e400", "train.lr is inf, not a finite number"),
    ("train.lr=2", "train.lr: 2 is greater than the maximum of 1"),
    ("train.batch_size=100000000000000000000", "train.batch_size: 100000000000000000000 is greater than the maximum of 1024"),
    ("train.workers=1000000", "train.workers: 1000000 is greater than the maximum of 64"),
    ("model.ngf=10000000", "model.ngf: 10000000 is greater than the maximum of 1024"),
    ("train.batch_size=5", "global batch 5 (train.batch_size 5 x 1 processes) is more than the 4 images of an epoch"),
    ("model.n_layers_d=3", "train.crop_size 16 does not fit the model: the discriminator's 3 layers shrink it to nothing"),
    ("train.crop_size=10", "train.crop_size 10 does not fit the model: the generator halves the size twice"),
])
def test_numbers_out_of_range(tmp_path, capsys, override, expected):
    _, cfg = tiny_run(tmp_path)
    refused(called(capsys, train_main, "--config", cfg, "--root", tmp_path, "--set", override), expected)
    assert not (tmp_path / "runs").exists()


def test_roots_that_cannot_be_written(tmp_path, capsys):
    _, cfg = tiny_run(tmp_path)
    (tmp_path / "file").write_text("x")
    for root, expected in ((tmp_path / "file", "--root {} is a file, not a folder"),
                           (tmp_path / "file" / "sub", "cannot write in --root {}: Not a directory"),
                           ("/proc/nautilus", "cannot write in --root {}: No such file or directory"),
                           ("/proc/self", "cannot write in --root {}")):
        refused(called(capsys, train_main, "--config", cfg, "--root", root), expected.format(root))
    assert (tmp_path / "file").read_text() == "x" and not (tmp_path / "runs").exists()


def test_a_read_only_root_and_output(tmp_path):
    data, cfg = tiny_run(tmp_path)
    torch.save(ResnetGenerator(4, 1).state_dict(), tmp_path / "G.pth")
    vol = SmallVolume(tmp_path, read_only=True)
    runs = vol.run([([PYTHON, "-m", "trainer.train", "--config", cfg, "--root", vol.path], None),
                    ([PYTHON, "-m", "trainer.prepare", "--config", cfg, "--root", vol.path], None),
                    ([PYTHON, "-m", "trainer.translate", "--generator", tmp_path / "G.pth", "--input", data / "trainA",
                      "--output", vol.path / "out"], None)])
    for run, flag in zip(runs, ("--root", "--root", "--output")):
        refused(run, f"cannot write in {flag} {vol.path}", "mount it writable or choose a folder you can write to")
    assert snapshot(vol.after) == {}


@pytest.mark.parametrize("args, expected", [
    (["--device", "banana"], "--device 'banana' is not a device; use --device cpu, cuda or cuda:N"),
    (["--device", "cuda:99"], "--device cuda:99: this machine has"),
    (["--device", "meta"], "--device meta: only cpu and cuda are supported"),
    (["--size", "100000"], "--size 100000 is not a multiple of 4 from 8 to 4096"),
    (["--size", "-4"], "--size -4 is not a multiple of 4"),
    (["--size", "4"], "--size 4 is not a multiple of 4 from 8"),
    (["--output", "FILE"], "--output {tmp}/FILE is a file, not a folder"),
])
def test_translate_flags(tmp_path, capsys, args, expected):
    data, _ = tiny_run(tmp_path)
    torch.save(ResnetGenerator(4, 1).state_dict(), tmp_path / "G.pth")
    (tmp_path / "FILE").write_text("x")
    args = [str(tmp_path / a) if a == "FILE" else a for a in args]
    argv = ["--generator", tmp_path / "G.pth", "--input", data / "trainA", "--output", tmp_path / "out", *args]
    refused(called(capsys, translate_main, *argv), expected.format(tmp=tmp_path))
    assert not (tmp_path / "out").exists() and (tmp_path / "FILE").read_text() == "x"


@pytest.mark.parametrize("args, expected", [
    (["--threads", "-1"], "--threads -1 is not between 1 and 1024"),
    (["--threads", "0"], "--threads 0 is not between 1 and 1024"),
    (["--threads", "100000000"], "--threads 100000000 is not between 1 and 1024"),
    (["--max-extract-bytes", "-5"], "--max-extract-bytes -5 is not positive"),
    (["--load-size", "100000"], "dataset.load_size: 100000 is greater than the maximum of 4096"),
    (["--root", "FILE"], "--root {tmp}/FILE is a file, not a folder"),
])
def test_prepare_flags(tmp_path, args, expected):
    data, _ = tiny_run(tmp_path)
    (tmp_path / "FILE").write_text("x")
    args = [str(tmp_path / a) if a == "FILE" else a for a in args]
    run = trainer("prepare", "--name", "h2z", "--path", data, "--root", tmp_path / "pvc", *args, timeout=60)
    refused(run, expected.format(tmp=tmp_path))
    assert not (tmp_path / "pvc" / "datasets").exists()


def test_the_safety_net_is_one_line_and_the_debug_variable_shows_the_traceback(capsys, monkeypatch):
    """For what no check foresaw: exit 3, one line naming the exception and NAUTILUS_DEBUG."""
    def broken():
        return {}["missing"]

    monkeypatch.delenv(cli.DEBUG, raising=False)
    assert cli.run(broken) == 3
    err = capsys.readouterr().err
    assert err == f"error: unexpected KeyError: 'missing'; re-run with {cli.DEBUG}=1 for the traceback and report it\n"
    code = "import sys; from trainer import cli; sys.exit(cli.run(lambda: {}['missing']))"
    proc = subprocess.run([PYTHON, "-c", code], env={**ENV, cli.DEBUG: "1"}, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 3 and "Traceback (most recent call last)" in proc.stderr and "KeyError" in proc.stderr


class _RefusingDataset(torch.utils.data.Dataset):
    def __init__(self, error):
        self.error = error

    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise self.error


@pytest.mark.parametrize("error", [UsageError("cannot decode a.png: broken", "replace or delete the file"),
                                   volume.Full("no space left on the volume holding /data", "enlarge the volume")])
def test_a_usage_error_in_a_dataloader_worker_stays_one_line_exit_2(capsys, error):
    """The worker's error comes back carrying the worker's traceback: the line is still `error: <what>; <fix>`."""
    loader = torch.utils.data.DataLoader(_RefusingDataset(error), num_workers=1)
    assert cli.run(lambda: next(iter(loader))) == 2
    assert capsys.readouterr().err == f"error: {error}\n"
