"""A sweep of the tiny trainer through the completion-index mechanism, as an Indexed Job's pods run it:
`python -m trainer.sweep trainer.train ...` with JOB_COMPLETION_INDEX set, one run folder per variant."""
import subprocess

import pytest
from ruamel.yaml import YAML

from conftest import PYTHON, REPO, python_env, write_config
from trainer import checkpoint as ckpt

VARIANTS = ["lr0.0001", "lr0.002"]


def run_index(tmp_path, index, *extra):
    env = python_env() | {"JOB_COMPLETION_INDEX": str(index)}
    return subprocess.run([PYTHON, "-m", "trainer.sweep", "trainer.train", "--config", str(tmp_path / "train.yaml"),
                           "--root", str(tmp_path), *extra], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture
def sweep(tmp_path, dataset):
    write_config(tmp_path / "train.yaml", dataset, run="s", train={"epochs": 2, "epochs_decay": 1})
    (tmp_path / "sweep.yaml").write_text("grid:\n  train.lr: [1e-4, 2e-3]\n")
    return tmp_path


def test_each_index_trains_its_own_variant_in_its_own_folder_and_resumes_there(sweep):
    for index, name in enumerate(VARIANTS):
        proc = run_index(sweep, index, "--set", "train.max_steps=4")  # a pod stopped part-way
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"sweep: variant {index + 1} of 2 ({name}, completion index {index})" in proc.stdout
    for name, lr in zip(VARIANTS, (0.0001, 0.002)):
        run = sweep / "runs" / "s" / name
        config = YAML(typ="safe").load((run / "config.yaml").read_text())
        assert config["run"] == f"s/{name}" and config["train"]["lr"] == lr and config["train"]["epochs"] == 2
        assert [p.name for p in ckpt.listing(run / "checkpoints")] == ["step_000000004.pt"]
        assert ckpt.read(run / "checkpoints" / "step_000000004.pt")["opt_G"]["param_groups"][0]["initial_lr"] == lr
        assert list((run / "tensorboard").glob("events.out.tfevents.*"))
        assert (run / "generators" / "latest_net_G_A.pth").is_file()
    proc = run_index(sweep, 1)  # the retried pod of index 1 continues its own run, index 0's stays where it was
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resumed from {sweep / 'runs/s/lr0.002/checkpoints/step_000000004.pt'} at epoch 2 step 4" in proc.stdout
    steps = {name: ckpt.listing(sweep / "runs" / "s" / name / "checkpoints")[0].name for name in VARIANTS}
    assert steps == {"lr0.0001": "step_000000004.pt", "lr0.002": "step_000000012.pt"}
    assert len(list((sweep / "runs" / "s" / "lr0.002" / "samples").glob("*.png"))) == 3
    assert run_index(sweep, 1).stdout.count("already complete") == 1  # a finished variant's pod exits at once


def test_the_init_container_prepares_the_variants_dataset(sweep):
    env = python_env() | {"JOB_COMPLETION_INDEX": "0"}
    proc = subprocess.run([PYTHON, "-m", "trainer.sweep", "trainer.prepare", "--config", str(sweep / "train.yaml"),
                           "--root", str(sweep)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "datasets" / "h2z" / "LATEST").is_file()


@pytest.mark.parametrize("index, sweep_text, said", [
    ("2", "grid:\n  train.lr: [1e-4, 2e-3]\n", "completion index 2 has no variant"),
    (None, "grid:\n  train.lr: [1e-4, 2e-3]\n", "JOB_COMPLETION_INDEX is not set"),
    ("1", "grid:\n  train.lr: [1e-4, -1]\n", "variant 2 of 2 (lr-1, completion index 1): train.lr: -1 is less than"),
    ("0", "grid: [", "sweep.yaml line 2 column 1: not valid YAML"),
])
def test_a_bad_variant_exits_2_with_one_line_naming_it(sweep, index, sweep_text, said):
    (sweep / "sweep.yaml").write_text(sweep_text)
    env = python_env()
    env.pop("JOB_COMPLETION_INDEX", None)
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = index
    proc = subprocess.run([PYTHON, "-m", "trainer.sweep", "trainer.train", "--config", str(sweep / "train.yaml"),
                           "--root", str(sweep)], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # the sweep component's FailIndex exit code: this variant stops, the others go on
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and said in proc.stderr
    assert not (sweep / "runs").exists()
