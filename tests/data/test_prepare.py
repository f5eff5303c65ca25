"""The data stage end to end: real archives over a real HTTP server, real CLI processes, real images."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from .support import REPO, SPLIT_COUNTS, zip_folder
from trainer.errors import UsageError
from trainer.prepare import prepare
from trainer.prepare.source import Spec, load_spec
from trainer.shards import open_split, resolve

SIZE = 16


def run_cli(root, *args, wait=True):
    cmd = [sys.executable, "-m", "trainer.prepare", "--root", str(root), "--load-size", str(SIZE), "--threads", "2", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def versions(root, name="ds"):
    folder = root / "datasets" / name
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.exists() else []


def leftovers(root, name="ds"):
    return sorted(p.name for p in (root / "datasets" / name).glob(".build-*"))


def reference_resize(path):
    """What the reference's loader computes per sample: PIL RGB, transforms.Resize([s, s], BICUBIC)."""
    resize = transforms.Resize([SIZE, SIZE], interpolation=transforms.InterpolationMode.BICUBIC)
    return np.asarray(resize(Image.open(path).convert("RGB")))


def test_shards_read_back_equal_the_resized_images(server, dataset, tmp_path):
    server.files["/ds.zip"] = zip_folder(dataset, top="ds")
    code, out, err = run_cli(tmp_path / "pvc", "--name", "ds", "--url", server.url("/ds.zip"))
    assert (code, err) == (0, ""), err
    version = resolve(tmp_path / "pvc", "ds", hashes=True)
    manifest = json.loads((version / "manifest.json").read_text())
    for split, n in SPLIT_COUNTS.items():
        images = open_split(version, split)
        sources = sorted(p for p in (dataset / split).iterdir() if p.suffix in (".jpg", ".png"))
        assert isinstance(images, np.memmap) and len(images) == n + 2 == manifest["splits"][split]["count"]
        assert manifest["splits"][split]["names"] == [p.name for p in sources]
        for i, source in enumerate(sources):
            assert images[i].shape == (SIZE, SIZE, 3) and images[i].dtype == np.uint8
            np.testing.assert_array_equal(images[i], reference_resize(source))
    assert "trainA: 6 images (1 other files skipped)" in out
    assert not list((tmp_path / "pvc" / "datasets" / "ds" / ".download").rglob("ds.zip*"))  # nothing left behind


def test_rerun_is_a_no_op(server, dataset, tmp_path):
    server.files["/ds.zip"] = zip_folder(dataset, top="ds")
    code, out, _ = run_cli(tmp_path, "--name", "ds", "--url", server.url("/ds.zip"))
    assert code == 0 and out.splitlines()[-1].startswith("usage data (whole run ")  # the data stage reports its use
    usage = tmp_path / "datasets" / "ds" / "usage.json"
    built = json.loads(usage.read_text())
    assert built["container"] == "data" and built["memory"]["peak_bytes"] > 0
    first, requests = versions(tmp_path), len(server.log)
    code, out, _ = run_cli(tmp_path, "--name", "ds", "--url", server.url("/ds.zip"))
    assert code == 0 and "already published" in out
    assert versions(tmp_path) == first and len(server.log) == requests  # not even a request
    assert json.loads(usage.read_text()) == built, "a no-op must not replace the build's usage summary"


def test_changed_settings_publish_a_new_version_and_move_latest(dataset, tmp_path):
    first = prepare(Spec("ds", path=str(dataset), load_size=SIZE), tmp_path, log=lambda _: None)
    second = prepare(Spec("ds", path=str(dataset), load_size=SIZE + 4), tmp_path, log=lambda _: None)
    assert first != second and resolve(tmp_path, "ds") == second
    assert open_split(second, "trainA").shape[1:] == (SIZE + 4, SIZE + 4, 3)
    assert open_split(first, "trainA").shape[1:] == (SIZE, SIZE, 3)  # the old version stays readable


def corrupt(zip_bytes: bytes) -> bytes:
    """Flip bytes inside the first member's data: CRC-32 no longer matches."""
    offset = 30 + len(zipfile.ZipFile(__import__("io").BytesIO(zip_bytes)).infolist()[0].filename) + 40
    return zip_bytes[:offset] + bytes(b ^ 0xFF for b in zip_bytes[offset: offset + 8]) + zip_bytes[offset + 8:]


def zip_slip(dataset) -> bytes:
    import io
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.write(dataset / "trainA" / "trainA_000.jpg", "ds/trainA/a.jpg")
        zf.writestr("ds/../../escaped.txt", "outside")
    return out.getvalue()


@pytest.mark.parametrize("bad, message", [
    ("corrupt", "error: archive bad.zip is corrupt (Bad CRC-32"),
    ("zip-slip", "error: archive entry 'ds/../../escaped.txt' points outside the extraction folder"),
    ("not-an-image", "error: trainB/trainB_001.jpg is not a decodable image"),
    ("no-layout", "error: no trainA/ and trainB/ folders in the dataset"),
])
def test_bad_input_is_one_clear_line_and_publishes_nothing(server, dataset, tmp_path, bad, message):
    root = tmp_path / "pvc"
    good = prepare(Spec("ds", path=str(dataset), load_size=SIZE), root, log=lambda _: None)
    if bad == "not-an-image":
        (dataset / "trainB" / "trainB_001.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    payload = {"corrupt": lambda: corrupt(zip_folder(dataset, top="ds")), "zip-slip": lambda: zip_slip(dataset),
               "not-an-image": lambda: zip_folder(dataset, top="ds"),
               "no-layout": lambda: zip_folder(dataset / "trainA", top="ds")}[bad]()
    server.files["/bad.zip"] = payload
    code, out, err = run_cli(root, "--name", "ds", "--url", server.url("/bad.zip"))
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1 and "; " in err
    assert versions(root) == [good.name] and resolve(root, "ds") == good  # previous LATEST intact
    assert leftovers(root) == [] and not (root / "datasets" / "ds" / ".lock").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (root / "escaped.txt").exists()
    assert not list(root.rglob("bad.zip"))  # a bad download is not kept for reuse


def test_two_concurrent_preparers_publish_one_dataset(server, dataset, tmp_path):
    server.files["/ds.zip"] = zip_folder(dataset, top="ds", padding=3 << 20)
    server.faults["/ds.zip"] = ["slow", "slow"]  # the download takes about two seconds: the two runs overlap
    procs = [run_cli(tmp_path, "--name", "ds", "--url", server.url("/ds.zip"), wait=False) for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert len(versions(tmp_path)) == 1 and leftovers(tmp_path) == []
    assert sum("already published" in out for out, _, _ in results) == 1
    assert sum("waiting for another preparer" in out for out, _, _ in results) == 1
    assert len(server.log) == 1  # the work, download included, was done once
    resolve(tmp_path, "ds", hashes=True)


def test_a_killed_download_resumes_where_it_stopped(server, dataset, tmp_path):
    body = zip_folder(dataset, top="ds", padding=3 << 20)
    server.files["/ds.zip"] = body
    server.faults["/ds.zip"] = ["slow"]
    downloads = tmp_path / "datasets" / "ds" / ".download"
    proc = run_cli(tmp_path, "--name", "ds", "--url", server.url("/ds.zip"), wait=False)
    deadline = time.monotonic() + 60
    while not ((part := next(downloads.glob("*/ds.zip.part"), None)) and part.stat().st_size >= 1 << 20):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # a preempted pod: no clean-up runs
    proc.communicate()
    kept = part.stat().st_size
    code, out, err = run_cli(tmp_path, "--name", "ds", "--url", server.url("/ds.zip"))
    assert (code, err) == (0, ""), err
    assert "breaking a stale lock" in out
    resumed = server.log[-1]
    assert resumed["range"] == f"bytes={kept}-" and resumed["status"] == 206
    assert resumed["sent"] == len(body) - kept  # the rest only, not a fresh start
    assert len(versions(tmp_path)) == 1 and leftovers(tmp_path) == []


def test_config_file_and_flags(dataset, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"dataset:\n  name: ds\n  path: {dataset}\n  load_size: 12\n  compression: gzip\n")
    spec = load_spec(config, load_size=SIZE, name=None)
    assert (spec.name, spec.path, spec.load_size, spec.compression) == ("ds", str(dataset), SIZE, "gzip")
    assert load_spec(config, url="https://example.org/x.zip").path is None  # a source flag replaces the file's
    config.write_text("dataset:\n  name: ds\n  load_size: 3\n")
    with pytest.raises(UsageError, match="load_size"):
        load_spec(config)


def test_catalogue_names_and_unknown_names(tmp_path):
    from trainer.prepare.source import source_url
    assert source_url(Spec("horse2zebra")) == "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"
    assert source_url(Spec("maps", base_url="http://mirror/x/")) == "http://mirror/x/maps.zip"
    with pytest.raises(UsageError, match="cityscapes-dataset.com"):
        source_url(Spec("cityscapes"))
    code, _, err = run_cli(tmp_path, "--name", "nosuchset")
    assert code == 2 and err.startswith("error: 'nosuchset' is not in the CycleGAN catalogue; set dataset.url")


def test_originals_kept_and_gzip_archive(dataset, tmp_path):
    version = prepare(Spec("ds", path=str(dataset), load_size=SIZE, keep_originals=True, compression="gzip"),
                      tmp_path, threads=2, log=lambda _: None)
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["archive"]["path"] == "ds.tar.gz"
    assert (version / "originals" / "testB" / "z_grey.jpg").read_bytes() == (dataset / "testB" / "z_grey.jpg").read_bytes()
    listed = subprocess.run(["tar", "-tzf", str(version / "ds.tar.gz")], capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == sorted(manifest["files"])  # the real tar reads our parallel gzip


def test_published_only_checks_and_never_builds(server, dataset, tmp_path):
    # The train Job's init container: a GPU pod must not wait while a dataset is prepared.
    server.files["/ds.zip"] = zip_folder(dataset, top="ds")
    source = ("--name", "ds", "--url", server.url("/ds.zip"))
    code, out, err = run_cli(tmp_path / "pvc", *source, "--published-only")
    assert code == 2 and err.startswith("error: dataset 'ds' is not published") and err.count("\n") == 1
    assert "data stage" in err and server.served("/ds.zip") == 0 and not (tmp_path / "pvc").exists()
    assert run_cli(tmp_path / "pvc", *source)[0] == 0
    code, out, err = run_cli(tmp_path / "pvc", *source, "--published-only")
    assert (code, err) == (0, "") and "already published" in out and len(versions(tmp_path / "pvc")) == 1
