"""Data: the global batches N ranks see together equal one process's; samples are pure functions of position."""
import torch

from conftest import make_images, write_config
from trainer.data import ImageFolder, ShardSampler, Unaligned, steps_per_epoch
from trainer.train import main


def batches(n, epoch, world, batch):
    """Per step: the set of dataset indices all ranks together train on."""
    per_rank = [list(ShardSampler(n, epoch, 0, r, world)) for r in range(world)]
    steps = steps_per_epoch(n, world, batch)
    return [sorted(k for r in range(world) for k in per_rank[r][s * batch:(s + 1) * batch]) for s in range(steps)]


def test_ranks_split_each_global_batch_of_the_single_process_order():
    assert batches(12, 3, 2, 2) == batches(12, 3, 1, 4)
    assert batches(12, 3, 4, 1) == batches(12, 3, 1, 4)
    per_rank = [{i for _, i in ShardSampler(12, 3, 0, r, 3)} for r in range(3)]
    assert set().union(*per_rank) == set(range(12)) and sum(map(len, per_rank)) == 12  # disjoint, complete
    assert batches(12, 3, 1, 4) != batches(12, 4, 1, 4)  # reshuffled every epoch


def test_uneven_sizes_pad_so_all_ranks_take_the_same_steps():
    lens = [len(ShardSampler(7, 0, 0, r, 3)) for r in range(3)]
    assert lens == [3, 3, 3]


def test_resume_start_skips_exactly_the_consumed_samples():
    full = list(ShardSampler(10, 2, 5, 1, 2))
    assert list(ShardSampler(10, 2, 5, 1, 2, start=3)) == full[3:]


def test_samples_are_deterministic_cropped_normalised(dataset):
    A, B = ImageFolder(dataset / "trainA", 18), ImageFolder(dataset / "trainB", 18)
    ds = Unaligned(A, B, 16, True, seed=0)
    a1, b1 = ds[(1, 2)]
    a2, b2 = ds[(1, 2)]
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert a1.shape == (3, 16, 16) and a1.min() >= -1 and a1.max() <= 1
    assert len(ds) == 4  # the larger domain
    others = [ds[(e, 2)][1] for e in range(2, 12)]  # B partner and crops change with the epoch
    assert any(not torch.equal(b1, o) for o in others)


def test_broken_dataset_is_one_line_exit_2(tmp_path, dataset, capsys):
    (dataset / "trainA" / "broken.png").write_bytes(b"not an image")
    cfg = write_config(tmp_path / "train.yaml", dataset)
    assert main(["--config", str(cfg), "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.png is not a readable image" in err
    assert not (tmp_path / "data" / "runs").exists()


def test_missing_domain_is_one_line_exit_2(tmp_path, capsys):
    make_images(tmp_path / "ds" / "trainA", 2, 20, 0)
    (tmp_path / "ds" / "trainB").mkdir()
    cfg = write_config(tmp_path / "train.yaml", tmp_path / "ds")
    assert main(["--config", str(cfg), "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no images in") and "trainB" in err
