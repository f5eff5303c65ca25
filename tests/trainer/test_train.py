"""Real training runs on tiny generated images: losses, DDP parity, preemption, corrupt checkpoints, translate."""
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import PYTHON, REPO, make_images, python_env, write_config
from trainer import checkpoint as ckpt
from trainer.models import generator_from_state
from trainer.train import fingerprint, main
from trainer.translate import main as translate_main


def run_dir(root: Path, run="t") -> Path:
    return root / "runs" / run


def progress(stdout: str, name: str) -> list[float]:
    return [float(v) for v in re.findall(rf"^epoch .* {name} ([0-9.]+)", stdout, re.M)]


def nets_of(path: Path) -> dict:
    return ckpt.read(path)["nets"]


def test_short_run_trains_and_writes_every_output(tmp_path, dataset, capsys):
    cfg = write_config(tmp_path / "train.yaml", dataset, model={"ngf": 8}, log={"every_steps": 8},
                       train={"epochs": 12, "epochs_decay": 0, "lr": 0.002})
    assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    cycle = [a + b for a, b in zip(progress(out, "cycle_A"), progress(out, "cycle_B"))]
    losses = [v for name in ("D_A", "G_A", "idt_A", "D_B", "G_B", "idt_B") for v in progress(out, name)]
    assert len(cycle) == 6 and all(np.isfinite(cycle + losses))
    assert cycle[-1] < 0.85 * cycle[0], cycle  # averages over 8 steps each
    assert "\r" not in out
    line = next(l for l in out.splitlines() if l.startswith("epoch 12/12 step 48/48"))
    assert re.search(r"[0-9.]+ img/s eta \S+ \| D_A .* \| lr 2\.00e-03 \| gpu n/a$", line)
    run = run_dir(tmp_path)
    samples = sorted((run / "samples").glob("*.png"))
    assert len(samples) == 12
    with Image.open(samples[-1]) as im:  # 2 rows x 3 images of the crop size
        assert im.size == (3 * 16, 2 * 16)
    assert [p.name for p in ckpt.listing(run / "checkpoints")] == [f"step_{s:09d}.pt" for s in (48, 44, 40)]
    state = ckpt.read(run / "checkpoints" / "step_000000048.pt")
    for k in ("G_A", "G_B"):
        exported = torch.load(run / "generators" / f"latest_net_{k}.pth", weights_only=True)
        assert all(torch.equal(exported[n], v) for n, v in state["nets"][k].items())
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert "lr: 0.002" in (run / "config.yaml").read_text()
    # its own use, against no requests here (no pod): a line in the log and a summary beside the outputs
    assert re.search(r"^usage train \(whole run \S+\): cpu [0-9.]+ cores \| memory [0-9.]+GiB.* requests unknown", out, re.M)
    usage = json.loads((run / "usage.json").read_text())
    assert usage["container"] == "train" and usage["cpu"]["mean_cores"] > 0 and usage["gpu"] is None
    assert not list(run.rglob("*.tmp"))


def test_lr_schedule_is_constant_then_linear(tmp_path, dataset, capsys):
    cfg = write_config(tmp_path / "train.yaml", dataset, log={"every_steps": 4},
                       train={"epochs": 2, "epochs_decay": 3, "pool_size": 0})
    assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    lrs = [float(v) for v in re.findall(r"\| lr ([0-9.e+-]+) \|", capsys.readouterr().out)]
    # epoch k runs at 2e-4 * (1 - max(0, k - 2) / 4)
    assert lrs == pytest.approx([2e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4])


def test_torchrun_two_ranks_match_one_process_at_the_same_global_batch(tmp_path, dataset):
    common = dict(train={"epochs": 2, "epochs_decay": 0, "pool_size": 0}, log={"every_steps": 2})
    one = write_config(tmp_path / "one.yaml", dataset, run="one", **common)
    two = write_config(tmp_path / "two.yaml", dataset, run="two", **common)
    env = python_env()
    subprocess.run([PYTHON, "-m", "trainer.train", "--config", str(one), "--root", str(tmp_path),
                    "--set", "train.batch_size=2"], check=True, env=env, cwd=REPO, capture_output=True)
    proc = subprocess.run([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           "-m", "trainer.train", "--config", str(two), "--root", str(tmp_path)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es) on cpu, batch 1 per process, global batch 2" in proc.stdout
    state_two = ckpt.read(run_dir(tmp_path, "two") / "checkpoints" / "step_000000004.pt")
    state_one = ckpt.read(run_dir(tmp_path, "one") / "checkpoints" / "step_000000004.pt")
    # Every rank reported the hash of its own parameters at the checkpoint: all equal to the saved ones.
    built = {k: generator_from_state(v) if k.startswith("G") else None for k, v in state_two["nets"].items()}
    assert len(state_two["ranks"]) == 2
    assert {r["fingerprint"] for r in state_two["ranks"]} == {fingerprint(state_two["nets"])}
    # Against one process at batch 2: conv biases that feed an InstanceNorm have zero true gradient, so Adam
    # turns their float noise into +-lr steps; they cannot change any output and are left out.
    for net, params in state_one["nets"].items():
        for name, value in params.items():
            if name not in normalised_biases(net, state_one["nets"]):
                torch.testing.assert_close(state_two["nets"][net][name], value, rtol=0, atol=1e-5, msg=f"{net}.{name}")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        for k in ("G_A", "G_B"):
            torch.testing.assert_close(built[k](x), generator_from_state(state_one["nets"][k])(x), rtol=0, atol=1e-4)


def normalised_biases(net: str, nets: dict) -> set[str]:
    from trainer.models import PatchDiscriminator, ResnetGenerator
    module = ResnetGenerator(4, 1) if net.startswith("G") else PatchDiscriminator(4, 2)
    names, mods = [], list(module.named_modules())
    for (name, m), (_, nxt) in zip(mods, mods[1:]):
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and isinstance(nxt, torch.nn.InstanceNorm2d):
            names.append(f"{name}.bias")
    assert names and set(names) <= set(nets[net])
    return set(names)


def start(cfg: Path, root: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "trainer.train", "--config", str(cfg), "--root", str(root), *extra],
                            env=python_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_restart_ends_bit_identical_to_an_uninterrupted_run(tmp_path, dataset):
    common = dict(train={"epochs": 10, "epochs_decay": 5, "deterministic": True}, log={"every_steps": 10})
    ref = write_config(tmp_path / "ref.yaml", dataset, run="ref", **common)
    cut = write_config(tmp_path / "cut.yaml", dataset, run="cut", **common)
    assert start(ref, tmp_path).wait(timeout=300) == 0
    proc = start(cut, tmp_path)
    folder = run_dir(tmp_path, "cut") / "checkpoints"
    while not ckpt.listing(folder) and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL  # really killed, not finished
    killed_at = int(ckpt.listing(folder)[0].stem.split("_")[1])
    assert 4 <= killed_at < 60
    again = start(cut, tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert re.search(rf"resumed from .*step_{killed_at:09d}\.pt at epoch \d+ step {killed_at}", out)
    a = ckpt.read(run_dir(tmp_path, "ref") / "checkpoints" / "step_000000060.pt")
    b = ckpt.read(folder / "step_000000060.pt")
    for k in a["nets"]:
        assert all(torch.equal(a["nets"][k][n], b["nets"][k][n]) for n in a["nets"][k]), k
    for opt in ("opt_G", "opt_D"):
        for i, s in a[opt]["state"].items():
            assert all(torch.equal(s[f], b[opt]["state"][i][f]) for f in s)
    pool_a, pool_b = a["ranks"][0]["pools"]["A"], b["ranks"][0]["pools"]["A"]
    assert len(pool_a["images"]) == 2 and all(torch.equal(x, y) for x, y in zip(pool_a["images"], pool_b["images"]))
    # A restart of a finished run does nothing and succeeds (a Job pod restarted after completion).
    done = start(cut, tmp_path)
    assert done.wait(timeout=120) == 0 and "already complete" in done.stdout.read()


def test_sigterm_writes_a_checkpoint_before_exit(tmp_path):
    make_images(tmp_path / "ds" / "trainA", 30, 20, 5)
    make_images(tmp_path / "ds" / "trainB", 3, 20, 6)
    cfg = write_config(tmp_path / "train.yaml", tmp_path / "ds", train={"epochs": 100})
    proc = start(cfg, tmp_path)
    for line in proc.stdout:
        if re.match(r"epoch 1/\d+ step 2/", line):
            break
    proc.send_signal(signal.SIGTERM)
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    paths = ckpt.listing(run_dir(tmp_path) / "checkpoints")
    assert len(paths) == 1
    step = ckpt.read(paths[0])["step"]
    assert 2 <= step < 30  # mid-epoch: this checkpoint exists only because of the signal
    assert "(SIGTERM)" in out and f"stopping after SIGTERM at step {step}" in out


def test_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path, dataset, capsys):
    cfg = write_config(tmp_path / "train.yaml", dataset, train={"epochs": 2, "epochs_decay": 0})
    assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    folder = run_dir(tmp_path) / "checkpoints"
    newest = folder / "step_000000008.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    capsys.readouterr()
    assert main(["--config", str(cfg), "--root", str(tmp_path), "--set", "train.epochs=3"]) == 0
    out, err = capsys.readouterr()
    assert f"warning: checkpoint {newest} is unreadable" in err
    assert f"resumed from {folder / 'step_000000004.pt'} at epoch 2 step 4" in out
    assert "done: run t at step 12" in out
    # Nothing readable at all: refuse instead of silently starting over.
    for p in ckpt.listing(folder):
        p.write_bytes(b"garbage")
    assert main(["--config", str(cfg), "--root", str(tmp_path), "--set", "train.epochs=4"]) == 2
    assert "error: no readable checkpoint in" in capsys.readouterr().err


def test_resume_with_another_architecture_is_refused(tmp_path, dataset, capsys):
    cfg = write_config(tmp_path / "train.yaml", dataset, train={"max_steps": 2})
    assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    before = sorted(p.name for p in run_dir(tmp_path).rglob("*"))
    capsys.readouterr()
    assert main(["--config", str(cfg), "--root", str(tmp_path), "--set", "model.ngf=8", "--set", "train.max_steps=4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: run 't' was trained with model" in err and "'ngf': 4" in err
    assert sorted(p.name for p in run_dir(tmp_path).rglob("*")) == before


def test_translate_from_checkpoint_and_reference_file_agree(tmp_path, dataset, capsys):
    cfg = write_config(tmp_path / "train.yaml", dataset, train={"max_steps": 3})
    assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    run = run_dir(tmp_path)
    common = ["--input", str(dataset / "testB"), "--size", "16"]
    assert translate_main(["--checkpoint", str(run), "--direction", "BtoA", "--output", str(tmp_path / "c")] + common) == 0
    assert translate_main(["--generator", str(run / "generators" / "latest_net_G_B.pth"),
                           "--output", str(tmp_path / "g")] + common) == 0
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == ["000.png", "001.png"] == sorted(p.name for p in (tmp_path / "g").iterdir())
    net = generator_from_state(ckpt.load_latest(run / "checkpoints")[0]["nets"]["G_B"])
    for name in names:
        c, g = np.asarray(Image.open(tmp_path / "c" / name)), np.asarray(Image.open(tmp_path / "g" / name))
        assert c.shape == (16, 16, 3) and np.array_equal(c, g)
        with Image.open(dataset / "testB" / name.replace(".png", ".jpg")) as im:
            x = torch.from_numpy(np.asarray(im.convert("RGB").resize((16, 16), Image.BICUBIC)).copy())
        with torch.no_grad():
            y = net(x.permute(2, 0, 1)[None].float() / 127.5 - 1)[0]
        assert np.array_equal(c, y.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy())
    (tmp_path / "bad.pth").write_bytes(b"nope")
    capsys.readouterr()
    assert translate_main(["--generator", str(tmp_path / "bad.pth"), "--output", str(tmp_path / "x")] + common) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load generator") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_trains_from_a_prepared_dataset_exactly_as_from_its_folder(tmp_path, dataset, capsys):
    from trainer.prepare.__main__ import main as prepare_main
    assert prepare_main(["--root", str(tmp_path), "--name", "h2z", "--path", str(dataset), "--load-size", "18"]) == 0
    folder_cfg = write_config(tmp_path / "folder.yaml", dataset, run="folder", train={"max_steps": 3})
    prepared_cfg = write_config(tmp_path / "prepared.yaml", dataset, run="prepared", train={"max_steps": 3})
    prepared_cfg.write_text(prepared_cfg.read_text().replace(f'"path": "{dataset}", ', ""))
    assert "path" not in prepared_cfg.read_text()
    for cfg in (folder_cfg, prepared_cfg):
        assert main(["--config", str(cfg), "--root", str(tmp_path)]) == 0
    a = nets_of(run_dir(tmp_path, "folder") / "checkpoints" / "step_000000003.pt")
    b = nets_of(run_dir(tmp_path, "prepared") / "checkpoints" / "step_000000003.pt")
    assert all(torch.equal(a[k][n], b[k][n]) for k in a for n in a[k])  # same pixels, same order, same training
    # A dataset that was never prepared: one line naming the fix.
    missing = write_config(tmp_path / "missing.yaml", dataset, run="m")
    missing.write_text(missing.read_text().replace(f'"path": "{dataset}", ', "").replace('"name": "h2z"', '"name": "nope"'))
    capsys.readouterr()
    assert main(["--config", str(missing), "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'nope' is not prepared") and err.count("\n") == 1
