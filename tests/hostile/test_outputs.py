"""Outputs: `nautilus report --full` never writes over an input, a file inside overlays/ or base/, or anything
that is not a regular file; `--max-bytes` covers the `--usage` section too; `trainer.compare` writes its three
files together or not at all, and `--out` at a file is said before any work."""
import hashlib
import json
import os
import struct
import zlib

import pytest
from PIL import Image

from hostile_support import nautilus, project, refused as refused_cli, snapshot
from trainer_hostile import refused, trainer

USAGE = {"project": "demo", "container": "train", "requests": {"cpu": 2, "memory": 2**30}, "cpu": {"mean_cores": 1.5},
         "memory": {"mean_bytes": 2**29, "peak_bytes": 2**29}, "gpu": {"mean_percent": 50}, "seconds": 600, "warnings": []}


@pytest.fixture
def root(tmp_path):
    root = project(tmp_path / "repo")
    (root / "usage.json").write_text(json.dumps(USAGE))
    return root


@pytest.mark.parametrize("full, expected", [
    ("overlays/demo/kustomization.yaml", "--full overlays/demo/kustomization.yaml is inside an input of this report"),
    ("overlays/demo/report.md", "--full overlays/demo/report.md is inside an input of this report"),
    ("base/report.md", "--full base/report.md is inside base/"),
    ("usage.json", "--full usage.json is an input of this report"),
    ("fifo", "--full fifo exists and is not a regular file"),
    ("link", "--full link exists and is not a regular file"),
    ("folder", "'--full': File 'folder' is a directory"),
], ids=["kustomization", "overlay-folder", "base", "usage-input", "fifo", "symlink-to-device", "folder"])
def test_full_never_writes_over_what_it_must_not(root, full, expected):
    os.mkfifo(root / "fifo")
    os.symlink("/dev/null", root / "link")
    (root / "folder").mkdir()
    before = snapshot(root / "overlays") | snapshot(root / "base")
    run = nautilus("report", "overlays/demo", "--usage", "usage.json", "--full", full, cwd=root)
    refused_cli(run, expected)
    assert snapshot(root / "overlays") | snapshot(root / "base") == before
    assert (root / "usage.json").read_text() == json.dumps(USAGE)
    assert os.path.islink(root / "link") and not (root / "fifo").is_file()


def test_full_writes_a_new_file_beside_the_overlays(root):
    run = nautilus("report", "overlays/demo", "--usage", "usage.json", "--full", "report.md", cwd=root)
    assert run.code == 0, run.err
    assert "### Measured use" in (root / "report.md").read_text()


def test_max_bytes_covers_the_usage_section(root):
    usage = ["--usage", "usage.json"] * 40
    whole = nautilus("report", "overlays/demo", *usage, cwd=root)
    assert whole.code == 0, whole.err
    limit = max(4500, len(whole.out.encode()) - 500)
    usage_bytes = len(whole.out[whole.out.index("### Measured use"):].encode())
    run = nautilus("report", "overlays/demo", *usage, "--max-bytes", limit, cwd=root)
    if limit - usage_bytes < 4000:
        refused_cli(run, f"--max-bytes {limit} leaves", "raise --max-bytes or pass fewer --usage files")
    else:
        assert run.code == 0 and len(run.out.encode()) <= limit, (len(run.out.encode()), limit)
    refused_cli(nautilus("report", "overlays/demo", *usage, "--max-bytes", 4000, cwd=root), "--max-bytes 4000 leaves")


# --- trainer.compare -----------------------------------------------------------------------------------------

def run_folder(tmp_path):
    run = tmp_path / "run"
    for index, lr in enumerate((0.1, 0.2)):
        folder = run / f"v{index}"
        (folder / "samples").mkdir(parents=True)
        (folder / "variant.json").write_text(json.dumps({"index": index, "name": folder.name, "set": {"train.lr": lr}}))
        Image.new("RGB", (48, 32), (index * 100, 50, 50)).save(folder / "samples/step_1.png")
    return run


def digests(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in ("compare.md", "compare.csv", "contact.png")}


def test_compare_outputs_appear_together_or_not_at_all(tmp_path):
    run = run_folder(tmp_path)
    assert trainer("compare", run, "--no-metrics", timeout=60).code == 0
    first = digests(run)
    (run / "v1/variant.json").write_text(json.dumps({"index": 1, "name": "v1", "set": {"train.lr": 0.3}}))
    header = struct.pack(">IIBBBBB", 1, 60_000, 8, 2, 0, 0, 0)  # the contact sheet fails after the tables are made
    (run / "v0/samples/step_2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header
                                                + struct.pack(">I", zlib.crc32(b"IHDR" + header)))
    refused(trainer("compare", run, "--no-metrics", timeout=60), "step_2.png")
    assert digests(run) == first
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_compare_out_at_a_file_is_said_before_any_work(tmp_path):
    run = run_folder(tmp_path)
    (tmp_path / "file").write_text("x")
    refused(trainer("compare", run, "--no-metrics", "--out", tmp_path / "file", timeout=60),
            f"--out {tmp_path / 'file'} is not a folder", "pass a folder for --out")
    assert (tmp_path / "file").read_text() == "x"
