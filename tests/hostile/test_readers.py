"""Class 1 for the features added after the first hardening: every file they read goes through one gate
(trainer/inputs.py): regular files only, opened without blocking, read with a size bound, JSON of the shape
the tools write. A FIFO, a device, a huge or misshapen file is one `error:` line, exit 2, within seconds:
the sweep file of trainer.sweep, the records, usage files, event files and samples trainer.compare reads,
`nautilus report --usage`, the replacement journal of `nautilus new`, LATEST and manifest.json for
`prepare --published-only`, and the files of an overlay `nautilus validate` renders."""
import json
import os
import struct
import zlib

import pytest

from hostile_support import nautilus, project, refused as refused_cli, snapshot
from trainer_hostile import refused, tiny_run, trainer

FIFO = "is not a regular file"


def fifo(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def quick(run, *expected):
    refused(run, *expected)
    assert run.seconds < 20, f"took {run.seconds:.1f} s"


# --- trainer.sweep -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda d: fifo(d / "sweep.yaml"), lambda d: "/dev/zero"], ids=["fifo", "dev-zero"])
def test_the_sweep_file_of_trainer_sweep_never_blocks(tmp_path, make):
    quick(trainer("sweep", "trainer.train", "--config", tmp_path / "train.yaml", "--sweep", make(tmp_path),
                  "--index", "0", "--root", tmp_path, timeout=60), FIFO, "pass --sweep PATH")


# --- trainer.compare -----------------------------------------------------------------------------------------

def run_folder(tmp_path, record='{"index": 0, "name": "a", "set": {"train.lr": 0.1}, "state": "finished"}'):
    run = tmp_path / "run"
    (run / "a").mkdir(parents=True)
    (run / "a/variant.json").write_text(record)
    (run / "b").mkdir()
    (run / "b/variant.json").write_text('{"index": 1, "name": "b", "set": {"train.lr": 0.2}}')
    return run


def compare(run, tmp_path):
    return trainer("compare", run, "--no-metrics", "--out", tmp_path / "out", timeout=60)


def png(width, height) -> bytes:
    """A PNG whose header says width x height (its pixel data need not be there: it is never decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))


@pytest.mark.parametrize("record, expected", [
    ("[1, 2]", "variant.json is a JSON list, not an object"),
    ('{"index": "first"}', "variant.json: index is not a JSON int"),
    ('{"index": 0, "set": [1]}', "variant.json: set is not a JSON dict"),
    ('{"index": 1e400}', "variant.json is not JSON (1e400 is not a finite number)"),
    ('{"index": NaN}', "variant.json is not JSON (NaN is not a number JSON allows)"),
    ("[" * 100_000 + "]" * 100_000, "variant.json nests deeper than 16 levels"),
    ('{"index": 0, "pad": "' + "x" * (2**20) + '"}', "variant.json is larger than 1,048,576 bytes"),
], ids=["list", "index-text", "set-list", "infinite", "nan", "deep", "huge"])
def test_variant_records_of_the_wrong_shape(tmp_path, record, expected):
    quick(compare(run_folder(tmp_path, record), tmp_path), expected, "delete")
    assert not (tmp_path / "out").exists()


def test_a_fifo_record_usage_file_event_file_or_sample_never_blocks_compare(tmp_path):
    run = run_folder(tmp_path)
    for path in (run / "a/usage.json", run / "a/tensorboard/events.out.tfevents.1.host", run / "a/samples/step_1.png"):
        fifo(path)
        quick(compare(run, tmp_path), str(path), FIFO)
        path.unlink()
    (run / "a/variant.json").unlink()
    (run / "a/config.yaml").write_text("run: t\n")
    fifo(run / "a/variant.json")
    quick(compare(run, tmp_path), "variant.json", FIFO)


@pytest.mark.parametrize("usage, expected", [
    ('{"gpu": [1]}', "usage.json: gpu is not a JSON dict"),
    ('{"gpu": {"mean_percent": -5}}', "usage.json: gpu.mean_percent -5 is not between 0 and inf"),
    ('{"gpu": {"mean_percent": "high"}}', "usage.json: gpu.mean_percent 'high' is not a number"),
    ('{"cpu": {"percent_of_request": Infinity}}', "usage.json is not JSON (Infinity is not a number JSON allows)"),
], ids=["gpu-list", "negative", "text", "infinity"])
def test_usage_files_of_the_wrong_shape_or_figures(tmp_path, usage, expected):
    run = run_folder(tmp_path)
    (run / "a/usage.json").write_text(usage)
    quick(compare(run, tmp_path), expected)


@pytest.mark.parametrize("size, expected", [
    ((1, 60_000), "1 x 60000 pixels, more than 16384 a side"),
    ((16_000, 16_000), "16000 x 16000 pixels, more than 16384 a side or 67,108,864 in all"),
    ((100, 2_000), "100 x 2000 pixels: scaled to 384 wide it would be 7680 high"),
], ids=["1x60000", "256-megapixels", "strip"])
def test_sample_images_are_sized_from_their_header_before_decoding(tmp_path, size, expected):
    run = run_folder(tmp_path)
    (run / "a/samples").mkdir()
    (run / "a/samples/step_1.png").write_bytes(png(*size))
    quick(compare(run, tmp_path), "step_1.png", expected)


def test_a_sample_that_is_not_a_png_is_one_line(tmp_path):
    run = run_folder(tmp_path)
    (run / "a/samples").mkdir()
    (run / "a/samples/step_1.png").write_bytes(png(8, 8)[:20])
    quick(compare(run, tmp_path), "step_1.png is not a PNG image")
    (run / "a/samples/step_1.png").write_bytes(png(8, 8))  # a header, no pixel data
    quick(compare(run, tmp_path), "cannot decode", "step_1.png")


# --- nautilus report --usage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, expected", [
    (lambda d: fifo(d / "usage.json"), FIFO),
    (lambda d: "/dev/zero", FIFO),
    (lambda d: (d / "u.json").write_text("[]") and d / "u.json", "is a JSON list, not an object"),
    (lambda d: (d / "u.json").write_text("[" * 5000 + "]" * 5000) and d / "u.json", "nests deeper than 16 levels"),
    (lambda d: (d / "u.json").write_text('{"requests": {"cpu": -1}, "cpu": {}, "memory": {}}') and d / "u.json",
     "requests.cpu -1 is not between 0 and 1e+18"),
    (lambda d: (d / "u.json").write_text('{"requests": {}, "cpu": {"mean_cores": 1e999}, "memory": {}}') and d / "u.json",
     "is not JSON (1e999 is not a finite number)"),
    (lambda d: (d / "u.json").write_text('{"requests": {}, "cpu": {}, "memory": {}, "seconds": NaN}') and d / "u.json",
     "NaN is not a number JSON allows"),
    (lambda d: (d / "u.json").write_text('{"requests": {}, "cpu": {}, "memory": {}, "gpu": 3}') and d / "u.json",
     "gpu is not an object"),
], ids=["fifo", "dev-zero", "list", "deep", "negative", "infinite", "nan", "gpu-number"])
def test_report_usage_reads_through_the_gate(tmp_path, make, expected):
    root = project(tmp_path / "repo")
    usage = make(tmp_path)
    for fmt in ("markdown", "json"):
        refused_cli(nautilus("report", "overlays/demo", "--usage", usage, "--format", fmt, cwd=root), expected, within=20)


# --- nautilus new: the replacement journal -------------------------------------------------------------------

@pytest.mark.parametrize("journal, expected", [
    (None, FIFO),
    ("[]", "is a JSON list, not an object"),
    ('{"token": "abcdefgh", "staged": {"../../elsewhere": 1}}', "it is not a journal this tool wrote"),
    ('{"token": "abcdefgh", "staged": {"p": "1"}}', "it is not a journal this tool wrote"),
    ("x" * 100_000, "is larger than 65,536 bytes"),
], ids=["fifo", "list", "path", "inode-text", "huge"])
def test_the_replacement_journal_of_new_is_read_through_the_gate(tmp_path, journal, expected):
    out = tmp_path / "overlays"
    out.mkdir()
    if journal is None:
        fifo(out / ".nautilus-replace")
    else:
        (out / ".nautilus-replace").write_text(journal)
    before = snapshot(out)
    refused_cli(nautilus("new", "p", "--namespace", "ns", "--output-dir", out), ".nautilus-replace", expected,
                within=20)
    assert snapshot(out) == before


# --- prepare --published-only: LATEST and manifest.json ------------------------------------------------------

def published(tmp_path, manifest: str | None):
    _, cfg = tiny_run(tmp_path)
    folder = tmp_path / "pvc/datasets/h2z"
    folder.mkdir(parents=True)
    if manifest is None:
        fifo(folder / "LATEST")
    else:
        (folder / "LATEST").write_text("v1\n")
        (folder / "v1").mkdir()
        (folder / "v1/manifest.json").write_text(manifest) if manifest != "fifo" else fifo(folder / "v1/manifest.json")
    return trainer("prepare", "--config", cfg, "--root", tmp_path / "pvc", "--published-only", timeout=60)


@pytest.mark.parametrize("manifest", [
    None, "fifo", "[]", '{"name": "h2z", "version": "v1", "splits": [], "files": 5, "archive": {}}',
    '{"name": "h2z", "version": "v1", "splits": {}, "files": {"../../x": {"bytes": 1, "sha256": "a"}}, '
    '"archive": {"path": "a.tar.zst", "bytes": 1, "sha256": "a"}}',
], ids=["latest-fifo", "manifest-fifo", "list", "wrong-types", "escaping-path"])
def test_published_only_reads_latest_and_the_manifest_through_the_gate(tmp_path, manifest):
    quick(published(tmp_path, manifest), "dataset 'h2z' is not published")


# --- nautilus validate: an overlay's own files ---------------------------------------------------------------

def test_an_overlay_holding_a_fifo_sweep_yaml_is_refused_at_once(tmp_path):
    root = project(tmp_path)
    overlay = root / "overlays/demo"
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("      - train.yaml\n", "      - train.yaml\n      - sweep.yaml\n"))
    fifo(overlay / "sweep.yaml")
    for command in ("validate", "build"):
        refused_cli(nautilus(command, "overlays/demo", cwd=root), "overlays/demo/sweep.yaml", FIFO, within=10)


def test_json_of_the_wrong_shape_is_never_unexpected(tmp_path):
    """The same misshapen usage file through both command lines: exit 2, never 3."""
    (tmp_path / "u.json").write_text(json.dumps({"requests": [], "cpu": {}, "memory": {}}))
    root = project(tmp_path / "repo")
    refused_cli(nautilus("report", "overlays/demo", "--usage", tmp_path / "u.json", cwd=root), "not a usage summary")


def test_a_fifo_where_the_dataset_lock_belongs_never_blocks_prepare(tmp_path):
    _, cfg = tiny_run(tmp_path)
    lock = fifo(tmp_path / "pvc/datasets/h2z/.lock")
    quick(trainer("prepare", "--config", cfg, "--root", tmp_path / "pvc", timeout=60), f"lock {lock}", FIFO)


def test_an_entry_with_a_nul_byte_is_kustomizes_to_judge(tmp_path):
    root = project(tmp_path)
    kustomization = root / "overlays/demo/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - ../../base\n", '  - ../../base\n  - "a\\0b"\n'))
    refused_cli(nautilus("validate", "overlays/demo", cwd=root), "kustomize could not render overlays/demo", within=20)
