"""`make demo`'s command end to end: overlay, render, validate, report, data stage, training, sample grid."""
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_every_stage_and_writes_a_sample_grid(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{REPO / '.tools/bin'}:{os.environ['PATH']}")
    nautilus = Path(sys.executable).with_name("nautilus")
    proc = subprocess.run([nautilus, "demo", "--workdir", tmp_path, "--steps", "6"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Job/demo-train" in proc.stdout and "0 error(s), 0 warning(s)" in proc.stderr
    assert re.search(r"\| train \| Job \| demo-train-[a-z0-9]{10} \| 1 \| nvidia.com/gpu \(NVIDIA-A10\) \|", proc.stdout)
    assert (tmp_path / "pvc/datasets/demo/LATEST").is_file()  # the data stage published; training read it
    # each stage reports its use against the requests its container has in the demo overlay
    assert re.search(r"^usage data \(whole run \S+\): cpu [0-9.]+ cores = \d+% of 1 \(band 20-200%\) \| memory "
                     r"[0-9.]+GiB = \d+% of 2\.0GiB .* exempt from NRP's bands", proc.stdout, re.M)
    assert re.search(r"^usage train \(whole run \S+\): cpu [0-9.]+ cores = \d+% of 2 \(band 20-200%\) \| memory "
                     r"[0-9.]+GiB = \d+% of 7\.0GiB", proc.stdout, re.M)
    grid = Path(proc.stdout.strip().splitlines()[-1].removeprefix("done: sample grid "))
    assert grid.parent == tmp_path / "pvc/runs/demo/samples"
    assert Image.open(grid).size == (3 * 32, 2 * 32)  # real, fake, reconstructed; both directions
