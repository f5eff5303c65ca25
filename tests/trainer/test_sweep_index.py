"""A sweep of the tiny trainer through the completion-index mechanism, as an Indexed Job's pods run it
(`python -m trainer.sweep trainer.train ...` with JOB_COMPLETION_INDEX set): one run folder per variant, a
preempted variant resumes its own checkpoint, a bad one fails alone; `trainer.compare` tabulates them."""
import csv
import json
import re
import shutil
import signal
import subprocess

import numpy as np
import pytest
from PIL import Image
from ruamel.yaml import YAML

from conftest import PYTHON, REPO, make_images, python_env, write_config
from trainer import checkpoint as ckpt
from trainer.compare import PAD, TILE_WIDTH, main as compare_main

SWEEP = "grid:\n  train.lr: [1e-4, 2e-3]\nvariants:\n- {name: broken, set: {train.lr: -1}}\n"
VARIANTS = ["lr0.0001", "lr0.002", "broken"]


def command(root, index, stage="trainer.train"):
    env = python_env() | {"JOB_COMPLETION_INDEX": str(index)}
    return dict(args=[PYTHON, "-m", "trainer.sweep", stage, "--config", str(root / "train.yaml"), "--root", str(root)],
                env=env, cwd=REPO, text=True)


def run_index(root, index, stage="trainer.train"):
    return subprocess.run(**command(root, index, stage), capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Index 0 preempted (SIGTERM) in its second epoch, index 1 trained to the end, index 2 a bad variant; `copied` is the
    run folder as `kubectl cp` would bring it home at that point."""
    root = tmp_path_factory.mktemp("sweep")
    for split, count, seed in (("trainA", 4, 1), ("trainB", 3, 2), ("testA", 2, 3), ("testB", 2, 4)):
        make_images(root / "h2z" / split, count, 20, seed)
    write_config(root / "train.yaml", root / "h2z", run="s", train={"epochs": 2, "epochs_decay": 1})
    (root / "sweep.yaml").write_text(SWEEP)
    outputs = {}
    pod = subprocess.Popen(**command(root, 0), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    for line in pod.stdout:
        seen.append(line)
        if re.match(r"epoch 2/3 step 6/", line):  # after epoch 1's samples
            break
    pod.send_signal(signal.SIGTERM)  # what the kubelet sends a preempted pod
    outputs[0] = "".join(seen) + pod.stdout.read()
    assert pod.wait(timeout=60) == 128 + signal.SIGTERM, pod.stderr.read()[-3000:]
    for index in (1, 2):
        proc = run_index(root, index)
        outputs[index] = proc.stdout + proc.stderr
        assert proc.returncode == (0 if index == 1 else 2), proc.stderr[-3000:]
    shutil.copytree(root / "runs" / "s", root / "copied" / "s")
    return root, outputs


def test_each_index_trains_its_own_variant_in_its_own_folder(swept):
    root, outputs = swept
    for index in (0, 1):
        assert f"sweep: variant {index + 1} of 3 ({VARIANTS[index]}, completion index {index})" in outputs[index]
    for name, lr in zip(VARIANTS, (0.0001, 0.002)):
        run = root / "runs" / "s" / name
        config = YAML(typ="safe").load((run / "config.yaml").read_text())
        assert config["run"] == f"s/{name}" and config["train"]["lr"] == lr and config["train"]["epochs"] == 2
        newest = ckpt.listing(run / "checkpoints")[0]
        assert ckpt.read(newest)["opt_G"]["param_groups"][0]["initial_lr"] == lr
        assert list((run / "tensorboard").glob("events.out.tfevents.*"))
        assert (run / "generators" / "latest_net_G_A.pth").is_file()
    assert len(list((root / "runs/s/lr0.002/samples").glob("*.png"))) == 3
    records = {name: json.loads((root / "runs/s" / name / "variant.json").read_text()) for name in VARIANTS}
    assert [(r["index"], r["state"], r["exit_code"]) for r in records.values()] == \
        [(0, "stopped", 128 + signal.SIGTERM), (1, "finished", 0), (2, "failed", 2)]
    assert records["broken"]["set"] == {"train.lr": -1} and "train.lr: -1 is less than" in records["broken"]["error"]
    assert "error: variant 3 of 3 (broken, completion index 2): train.lr: -1 is less than" in outputs[2]


def test_the_retried_pod_of_a_preempted_variant_resumes_its_own_checkpoint(swept):
    root, _ = swept
    stopped = ckpt.listing(root / "runs/s/lr0.0001/checkpoints")[0]
    step = ckpt.read(stopped)["step"]
    finished = ckpt.listing(root / "runs/s/lr0.002/checkpoints")[0]
    proc = run_index(root, 0)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resumed from {stopped} at epoch 2 step {step}" in proc.stdout
    assert ckpt.listing(root / "runs/s/lr0.0001/checkpoints")[0].name == "step_000000012.pt"
    assert ckpt.listing(root / "runs/s/lr0.002/checkpoints")[0] == finished  # the other variant is untouched
    assert "already complete" in run_index(root, 1).stdout  # a finished variant's pod exits at once


def test_the_init_container_prepares_the_variants_dataset(swept):
    root, _ = swept
    proc = run_index(root, 1, "trainer.prepare")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "datasets" / "h2z" / "LATEST").is_file()


@pytest.mark.parametrize("index, sweep_text, said", [
    ("2", "grid:\n  train.lr: [1e-4, 2e-3]\n", "completion index 2 has no variant"),
    (None, "grid:\n  train.lr: [1e-4, 2e-3]\n", "JOB_COMPLETION_INDEX is not set"),
    ("0", "grid: [", "sweep.yaml line 2 column 1: not valid YAML"),
])
def test_no_variant_exits_2_with_one_line(tmp_path, dataset, index, sweep_text, said):
    write_config(tmp_path / "train.yaml", dataset, run="s")
    (tmp_path / "sweep.yaml").write_text(sweep_text)
    env = python_env()
    env.pop("JOB_COMPLETION_INDEX", None)
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = index
    proc = subprocess.run([PYTHON, "-m", "trainer.sweep", "trainer.train", "--config", str(tmp_path / "train.yaml"),
                           "--root", str(tmp_path)], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # the sweep component's FailIndex exit code: this index stops, the others go on
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and said in proc.stderr
    assert not (tmp_path / "runs").exists()


def logged(output: str, name: str) -> float:
    return float(re.findall(rf" {name} ([0-9.]+)", output)[-1])


def test_compare_tabulates_the_copied_run_and_lays_the_samples_side_by_side(swept, tmp_path):
    root, outputs = swept
    copied = root / "copied" / "s"
    (copied / "lr0.002" / "usage.json").write_text(json.dumps(  # the utilisation summary a GPU run writes
        {"gpu": {"mean_percent": 87.4}, "cpu": {"percent_of_request": 120.0}, "memory": {"mean_percent_of_request": 55.0}}))
    assert compare_main([str(copied), "--out", str(tmp_path), "--root", str(root)]) == 0
    with open(tmp_path / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["variant"], r["train.lr"], r["state"]) for r in table] == \
        [("lr0.0001", "0.0001", "running"), ("lr0.002", "0.002", "done"), ("broken", "-1", "failed")]
    stopped = ckpt.read(ckpt.listing(copied / "lr0.0001" / "checkpoints")[0])["step"]
    assert [r["steps"] for r in table] == [str(stopped), "12", "0"]
    done, broken = table[1], table[2]
    for name in ("G_A", "D_B", "cycle_A", "idt_B"):  # the last values the run logged (4 decimals here, 3 in the log)
        assert float(done[name]) == pytest.approx(logged(outputs[1], name), abs=6e-4)
        assert broken[name] == "-"
    assert float(done["images/s"]) > 0 and table[0]["utilisation"] == "-"
    assert done["utilisation"] == "GPU 87%, CPU 120%, memory 55%"
    assert float(done["cycle L1 (test)"]) == pytest.approx(cycle_l1(root, copied / "lr0.002"), abs=1e-4)
    assert 0 < float(done["identity L1 (test)"]) < 2 and done["cycle L1 (test)"] != table[0]["cycle L1 (test)"]
    markdown = (tmp_path / "compare.md").read_text()
    assert "| variant | train.lr | steps | state |" in markdown and "broken: variant 3 of 3" in markdown

    sheet = Image.open(tmp_path / "contact.png").convert("RGB")
    sample = Image.open(sorted((copied / "lr0.002" / "samples").glob("*.png"))[-1]).convert("RGB")
    tile_height = sample.height * TILE_WIDTH // sample.width
    label = sheet.height - PAD - tile_height - PAD  # one row of cells: padding, label band, tile, padding
    assert sheet.width == 3 * (TILE_WIDTH + PAD) + PAD and 20 < label < 80  # three tiles side by side, two label lines
    pixels = np.asarray(sheet)
    tiles = [pixels[PAD + label: PAD + label + tile_height, x: x + TILE_WIDTH]
             for x in (PAD + n * (TILE_WIDTH + PAD) for n in range(3))]
    assert np.array_equal(tiles[1], np.asarray(sample.resize((TILE_WIDTH, tile_height), Image.NEAREST)))
    assert not np.array_equal(tiles[0], tiles[1])  # two variants, two models: their samples differ
    assert (tiles[2] == 200).mean() > 0.9 > (tiles[0] == 200).mean()  # the failed variant: grey, "no samples yet"
    for n in range(3):  # a label in each cell: dark text on the white band
        band = pixels[PAD: PAD + label, PAD + n * (TILE_WIDTH + PAD): PAD + n * (TILE_WIDTH + PAD) + TILE_WIDTH]
        assert (band < 100).any()


def cycle_l1(root, run) -> float:
    """The oracle: |G_B(G_A(a)) - a| and |G_A(G_B(b)) - b| on center crops of the test images, averaged."""
    import torch
    from trainer.models import load_generator
    G_A, G_B = (load_generator(run / "generators" / f"latest_net_{k}.pth").eval() for k in ("G_A", "G_B"))
    values = []
    with torch.no_grad():
        for split, there, back in (("testA", G_A, G_B), ("testB", G_B, G_A)):
            for path in sorted((root / "h2z" / split).glob("*.png")):
                image = np.asarray(Image.open(path).convert("RGB").resize((18, 18), Image.BICUBIC))[1:17, 1:17]
                x = torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
                values.append((back(there(x)) - x).abs().mean().item())
    return sum(values) / len(values)


def test_compare_refuses_a_folder_without_variants(tmp_path, capsys):
    assert compare_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} holds no variant folders")
    for n in range(65):  # more folders than a sweep has variants: not a sweep's run folder
        (tmp_path / f"v{n}").mkdir()
        (tmp_path / f"v{n}" / "config.yaml").write_text("run: x\n")
    assert compare_main([str(tmp_path)]) == 2
    assert "holds 65 run folders, more than a sweep's 64" in capsys.readouterr().err
    assert not (tmp_path / "compare.md").exists()


def test_a_variant_trains_on_several_processes_under_torchrun(tmp_path, dataset):
    """Multi-GPU per variant, as the pod runs it: torchrun passes the pod's JOB_COMPLETION_INDEX to every rank."""
    write_config(tmp_path / "train.yaml", dataset, run="s", train={"epochs": 1, "epochs_decay": 0})
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    env = python_env() | {"JOB_COMPLETION_INDEX": "1"}
    proc = subprocess.run([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "trainer.sweep",
                           "trainer.train", "--config", str(tmp_path / "train.yaml"), "--root", str(tmp_path)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("sweep: variant 2 of 3 (lr0.002, completion index 1)") == 1  # rank 0 speaks for the pod
    assert "2 process(es) on cpu" in proc.stdout
    run = tmp_path / "runs" / "s" / "lr0.002"
    assert [p.name for p in ckpt.listing(run / "checkpoints")] == ["step_000000002.pt"]  # 4 images, 2 ranks, batch 1
    assert json.loads((run / "variant.json").read_text())["state"] == "finished"
    assert sorted(p.name for p in (tmp_path / "runs" / "s").iterdir()) == ["lr0.002"]
