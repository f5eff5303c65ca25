"""The image pool as the reference CycleGAN defines it: fill, then for each image a fair coin either returns
it or swaps it for a random stored one, which it replaces; one image at a time, whatever the batch size."""
import torch

from trainer.pool import ImagePool


def images(count: int, start: int = 0) -> torch.Tensor:
    """count distinguishable 3x2x2 images (NCHW, as the trainer's): image k is filled with start + k."""
    return torch.arange(start, start + count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 3, 2, 2).clone()


def ids(batch: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in batch]


def test_size_zero_returns_the_batch_itself():
    batch = images(3)
    assert ImagePool(0, seed=1).query(batch) is batch


def test_filling_returns_the_new_images_and_stores_copies():
    pool = ImagePool(3, seed=1)
    batch = images(2)
    out = pool.query(batch)
    assert ids(out) == [0, 1] and ids(torch.cat(pool.images)) == [0, 1]
    batch.fill_(99)  # the pool keeps its own copies
    assert ids(torch.cat(pool.images)) == [0, 1]
    assert ids(pool.query(images(1, start=2))) == [2] and len(pool.images) == 3


def test_a_full_pool_stays_at_its_size_and_swaps_about_half_the_time():
    pool = ImagePool(4, seed=7)
    pool.query(images(4))
    returned_old = 0
    queries = 2000
    for step in range(queries):
        new = 100 + step
        before = ids(torch.cat(pool.images))
        (got,) = ids(pool.query(images(1, start=new)))
        after = ids(torch.cat(pool.images))
        assert len(after) == 4
        if got == new:  # passed through: the pool is unchanged
            assert after == before
        else:  # swapped: a stored image came back and the new one took its slot
            returned_old += 1
            slot = before.index(got)
            assert after[slot] == new and after[:slot] + after[slot + 1:] == before[:slot] + before[slot + 1:]
    assert 0.45 < returned_old / queries < 0.55


def test_every_slot_gets_replaced_first_and_last_included():
    pool = ImagePool(3, seed=3)
    pool.query(images(3))
    replaced = set()
    for step in range(200):
        before = ids(torch.cat(pool.images))
        pool.query(images(1, start=100 + step))
        replaced |= {i for i, (a, b) in enumerate(zip(before, ids(torch.cat(pool.images)))) if a != b}
    assert replaced == {0, 1, 2}


def test_a_batch_is_handled_image_by_image():
    pool = ImagePool(2, seed=5)
    out = pool.query(images(5))  # two fill the pool, three meet a full pool
    assert out.shape == (5, 3, 2, 2) and len(pool.images) == 2
    assert ids(out)[:2] == [0, 1]
    # each image either came out or took a stored one's slot: none is lost
    assert set(ids(out)) | set(ids(torch.cat(pool.images))) == {0, 1, 2, 3, 4}
    assert set(ids(out)[2:]) != {2, 3, 4}, "with this seed at least one of the three is swapped"



def test_returned_images_carry_no_gradient_history():
    generated = images(3).requires_grad_()
    out = ImagePool(2, seed=1).query(generated * 2)
    assert not out.requires_grad


def test_same_seed_same_choices_and_different_seed_different_ones():
    def run(seed):
        pool = ImagePool(3, seed=seed)
        return [ids(pool.query(images(2, start=10 * step))) for step in range(30)]
    assert run(11) == run(11)
    assert run(11) != run(12)


def test_state_round_trip_continues_identically():
    pool = ImagePool(3, seed=9)
    for step in range(10):
        pool.query(images(2, start=10 * step))
    restored = ImagePool(3, seed=0)
    restored.load_state_dict(pool.state_dict())
    assert ids(torch.cat(restored.images)) == ids(torch.cat(pool.images))
    for step in range(10, 40):
        assert ids(pool.query(images(2, start=10 * step))) == ids(restored.query(images(2, start=10 * step)))
