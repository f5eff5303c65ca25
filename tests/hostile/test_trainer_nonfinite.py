"""A run whose losses or weights become NaN/inf stops with one error line and exit code 2, on every rank, and
writes nothing from the diverged state: no checkpoint, no generator, no sample; the last good checkpoint
stays byte for byte. Divergence here is real: a loss weight of 1e38 overflows float32 in the first step."""
import subprocess

import pytest

from trainer.train import main
from trainer_hostile import ENV, PYTHON, REPO, Run, refused, snapshot, tiny_run

DIVERGE = ["--set", "train.lambda_identity=1e38"]


def train(cfg, root, *extra):
    return ["--config", str(cfg), "--root", str(root), *extra]


def outputs(root):
    """What a run wrote that a user would use: checkpoints, generators, samples."""
    run = root / "runs" / "t"
    return {k: v for k, v in snapshot(run).items() if k.startswith(("checkpoints/", "generators/", "samples/"))}


@pytest.mark.parametrize("every_steps, max_steps", [(1, 4), (100, 4), (2, 3)])
def test_a_run_that_diverges_from_the_start_saves_nothing(tmp_path, capsys, every_steps, max_steps):
    """Caught at the first progress line, or (every_steps 100) before the end-of-training checkpoint."""
    _, cfg = tiny_run(tmp_path, log={"every_steps": every_steps}, train={"max_steps": max_steps})
    code = main(train(cfg, tmp_path, *DIVERGE))
    out, err = capsys.readouterr()
    line = refused(Run(code, out, err), "training diverged: losses (", "idt_A", "became NaN or infinite",
                   "train.lambda_identity (1e+38)", "nothing was saved from this run")
    assert f"by step {min(every_steps, max_steps)}" in line
    assert outputs(tmp_path) == {} and "nan" not in out


def test_a_diverging_resume_keeps_the_last_good_checkpoint_and_generators(tmp_path, capsys):
    _, cfg = tiny_run(tmp_path, train={"max_steps": 4})
    assert main(train(cfg, tmp_path)) == 0
    before = outputs(tmp_path)
    capsys.readouterr()
    code = main(train(cfg, tmp_path, *DIVERGE, "--set", "train.max_steps=8"))
    good = tmp_path / "runs" / "t" / "checkpoints" / "step_000000004.pt"
    refused(Run(code, *capsys.readouterr()), "by step 5", f"the re-run resumes from {good}, which is kept")
    assert outputs(tmp_path) == before


def test_a_timer_checkpoint_is_not_written_from_a_diverged_state(tmp_path, capsys):
    """checkpoint.every_minutes tiny: a checkpoint is due after every step, the guard runs first."""
    _, cfg = tiny_run(tmp_path, log={"every_steps": 50}, checkpoint={"every_minutes": 1e-9, "keep": 3},
                      train={"max_steps": 6})
    code = main(train(cfg, tmp_path, *DIVERGE))
    refused(Run(code, *capsys.readouterr()), "training diverged", "by step 1", "nothing was saved")
    assert outputs(tmp_path) == {}


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400"])
def test_non_finite_numbers_are_refused_before_training(tmp_path, capsys, value):
    _, cfg = tiny_run(tmp_path)
    code = main(train(cfg, tmp_path / "data", "--set", f"train.lambda_cycle={value}"))
    refused(Run(code, *capsys.readouterr()), "train.lambda_cycle is", "not a finite number", "write a plain number")
    assert not (tmp_path / "data").exists()


def test_under_torchrun_every_rank_stops_with_code_2_and_one_line(tmp_path):
    """2 gloo processes: the ranks agree over the control group and all exit 2; rank 0 says it once. Each rank
    runs under a shell that ignores torchrun's SIGTERM, so every rank's own exit code is recorded."""
    _, cfg = tiny_run(tmp_path, train={"max_steps": 4})
    codes = tmp_path / "codes"
    rank = (f"trap '' TERM; {PYTHON} -m trainer.train --config {cfg} --root {tmp_path} {' '.join(DIVERGE)}; "
            f"c=$?; echo \"$RANK $c\" >> {codes}; exit $c")
    proc = subprocess.run([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--no-python",
                           "sh", "-c", rank], env=ENV, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    assert sorted(codes.read_text().split("\n")[:-1]) == ["0 2", "1 2"], proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: training diverged"), proc.stderr[-3000:]
    assert "/trainer/" not in proc.stderr.replace(str(REPO), "")  # no rank's traceback (torchrun adds its own)
    assert outputs(tmp_path) == {}
