"""A volume that fills up: the data stage and the trainer stop with one line, keep what was good, leave nothing.

Every test runs on a real small volume (trainer_hostile.SmallVolume: a tmpfs in a private mount namespace,
or RLIMIT_FSIZE where namespaces are forbidden; see its docstring). Before this was fixed, shards were
filled through a memory map and a full volume killed the data stage with SIGBUS, leaving its build folder
and lock behind; torch.save on a full volume said "unexpected pos 704 vs 598".
"""
import re
import zipfile

import numpy as np
import torch

from trainer_hostile import MECHANISM, PYTHON, SmallVolume, refused, snapshot, tiny, tiny_run

FULL = "enlarge the volume"  # the fix every full-volume error gives


def prepare(root, *args):
    return [PYTHON, "-m", "trainer.prepare", "--root", root, "--threads", "2", *args]


def published(tmp_path, load_size=16):
    """A dataset version prepared onto the volume's seed: what a later run must leave as it was."""
    data, cfg = tiny_run(tmp_path)
    from trainer.prepare import prepare as prepare_api
    from trainer.prepare.source import Spec
    prepare_api(Spec("h2z", path=str(data), load_size=load_size), tmp_path / "seed", log=lambda _: None)
    return data, cfg


def dataset_state(root):
    """LATEST and every published file; build folders and locks are checked separately."""
    return {k: v for k, v in snapshot(root / "datasets" / "h2z").items() if not k.startswith((".build-", ".lock"))}


def no_leftovers(root):
    folder = root / "datasets" / "h2z"
    assert not list(folder.glob(".build-*")) and not list(folder.glob(".lock*")), sorted(p.name for p in folder.iterdir())


def test_a_version_that_cannot_fit_is_refused_and_the_published_one_kept(tmp_path):
    data, _ = published(tmp_path)
    before = dataset_state(tmp_path / "seed")
    vol = SmallVolume(tmp_path)
    [run] = vol.run([(prepare(vol.path, "--name", "h2z", "--path", data, "--load-size", "64"), 30_000)])
    refused(run, FULL)
    if MECHANISM == "tmpfs":  # the free-space check, before the first shard is written
        assert re.search(r"needs 0\.2 MiB but the volume holding \S+/datasets/h2z has 0\.\d MiB free", run.err), run.err
    assert dataset_state(vol.after) == before
    no_leftovers(vol.after)


def test_shards_are_written_so_a_full_volume_is_an_error_not_sigbus(tmp_path):
    data, _ = tiny_run(tmp_path)
    vol = SmallVolume(tmp_path)
    code = ("import errno, sys; from pathlib import Path; from trainer.prepare.images import write_shard\n"
            f"images = sorted(Path({str(data / 'trainA')!r}).glob('*.png')) * 8\n"
            f"try: write_shard(images, Path({str(vol.path / 'trainA.npy')!r}), 64, 2)\n"
            "except OSError as e: print(errno.errorcode[e.errno]); sys.exit(3)")
    [run] = vol.run([([PYTHON, "-c", code], 50_000)])
    assert run.code == 3, (run.code, run.err)  # -7 (SIGBUS) when shards were written through a memory map
    assert run.out.strip() == ("ENOSPC" if MECHANISM == "tmpfs" else "EFBIG")


def test_an_archive_that_fills_the_volume_while_extracting(tmp_path):
    data, _ = published(tmp_path)
    archive = tmp_path / "h2z.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(data.rglob("*.*")):
            zf.write(path, f"h2z/{path.relative_to(data)}")
        zf.writestr("h2z/extra/blob.bin", np.random.default_rng(0).bytes(1 << 20))  # incompressible
    kept = archive.read_bytes()
    before = dataset_state(tmp_path / "seed")
    vol = SmallVolume(tmp_path)
    [run] = vol.run([(prepare(vol.path, "--name", "h2z", "--url", f"file://{archive}", "--load-size", "16"), 400_000)])
    refused(run, "no space left on the volume holding", "/datasets/h2z", FULL)
    assert dataset_state(vol.after) == before
    no_leftovers(vol.after)
    assert archive.read_bytes() == kept  # a local source is read, never moved or changed


def test_a_killed_preparer_is_cleaned_up_by_a_run_with_nothing_to_do(tmp_path):
    """SIGKILL a real preparer mid-build (other settings), fill the volume from its build folder as its shards
    would, then rerun the published settings: nothing to build, but its folder and lock are removed."""
    data, _ = tiny_run(tmp_path)
    tiny.make_images(data / "trainB", 40, 64, 5)  # a build that takes long enough to be caught in the act
    published(tmp_path)
    before = dataset_state(tmp_path / "seed")
    vol = SmallVolume(tmp_path, size_mib=16)
    folder = vol.path / "datasets" / "h2z"
    kill = ("import signal, subprocess, time; from pathlib import Path\n"
            f"folder = Path({str(folder)!r})\n"
            f"p = subprocess.Popen({list(map(str, prepare(vol.path, '--name', 'h2z', '--path', data, '--load-size', '96')))!r})\n"
            "deadline = time.monotonic() + 60\n"
            "while not list(folder.glob('.build-*')) and time.monotonic() < deadline: time.sleep(0.001)\n"
            "p.send_signal(signal.SIGKILL); p.wait()\n"
            "[build] = folder.glob('.build-*'); assert (folder / '.lock').exists()\n"
            "with open(build / 'fill.npy', 'wb') as f:  # as its shards would: up to a full volume\n"
            "    try:\n"
            "        for _ in range(512): f.write(bytes(1 << 16)); f.flush()\n"
            "    except OSError: pass\n"
            "print('killed', p.returncode)")
    runs = vol.run([([PYTHON, "-c", kill], None),
                    (prepare(vol.path, "--name", "h2z", "--path", data, "--load-size", "16"), None)])
    assert runs[0].code == 0 and "killed -9" in runs[0].out, runs[0].err
    assert runs[1].code == 0, runs[1].err
    assert "already published" in runs[1].out and "nothing to do" in runs[1].out
    assert "removed what a stopped preparer left" in runs[1].out
    assert dataset_state(vol.after) == before
    no_leftovers(vol.after)


def test_a_checkpoint_that_does_not_fit_keeps_the_last_good_one(tmp_path):
    _, cfg = tiny_run(tmp_path, train={"max_steps": 2})
    vol = SmallVolume(tmp_path)
    run_dir = vol.path / "runs" / "t"
    keep = f"import shutil; shutil.copytree({str(run_dir)!r}, {str(tmp_path / 'before')!r})"
    train = [PYTHON, "-m", "trainer.train", "--config", cfg, "--root", vol.path]
    runs = vol.run([(train, None), ([PYTHON, "-c", keep], None),
                    (train + ["--set", "train.max_steps=4"], 100_000)])
    assert runs[0].code == 0 and runs[1].code == 0, runs[0].err + runs[1].err
    refused(runs[2], "no space left on the volume holding", "runs/t/checkpoints", FULL)
    before, after = snapshot(tmp_path / "before"), snapshot(vol.after / "runs" / "t")
    for part in ("checkpoints/step_000000002.pt", "generators/latest_net_G_A.pth", "generators/latest_net_G_B.pth"):
        assert after[part] == before[part]  # byte for byte
    assert not any(k.endswith(".tmp") or "step_000000004" in k for k in after), sorted(after)


def test_translated_images_that_do_not_fit(tmp_path):
    data, _ = tiny_run(tmp_path)
    from trainer.models import ResnetGenerator
    (tmp_path / "seed").mkdir()
    torch.save(ResnetGenerator(4, 1).state_dict(), tmp_path / "seed" / "G.pth")
    vol = SmallVolume(tmp_path)
    out = vol.path / "out"
    [run] = vol.run([([PYTHON, "-m", "trainer.translate", "--generator", vol.path / "G.pth", "--input", data / "trainA",
                       "--output", out, "--size", "512"], 200_000)])
    refused(run, "no space left on the volume holding", "/out", FULL)
    written = sorted(p.name for p in (vol.after / "out").iterdir()) if (vol.after / "out").exists() else []
    assert all(name.endswith(".png") and not name.startswith(".") for name in written), written
    for name in written:  # whatever was written is complete
        from PIL import Image
        with Image.open(vol.after / "out" / name) as im:
            im.load()
    assert len(written) < 4
