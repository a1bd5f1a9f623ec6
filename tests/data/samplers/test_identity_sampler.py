"""The P x K identity sampler (002_e585b7ac4801a221.txt, Sec. 4.4, batch 64): batch structure,
epoch coverage in both modes, identities with fewer than K images, and (seed, epoch)
determinism for resumed runs."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from dmlrepro.data.samplers import SAMPLER_MODES, PKIdentitySampler
from dmlrepro.errors import UserError


def market_like_pids(num_ids: int = 50, seed: int = 0, low: int = 1, high: int = 14) -> list[int]:
    """Images per identity from ``low`` to ``high`` (Market-1501 has identities with 1 image in
    the camera-filtered splits, and up to 72), interleaved as a real dataset's file order is."""
    rng = np.random.default_rng(seed)
    pids = [pid for pid in range(num_ids) for _ in range(int(rng.integers(low, high + 1)))]
    rng.shuffle(pids)
    return pids


@pytest.mark.parametrize("mode", SAMPLER_MODES)
def test_every_batch_holds_k_images_of_p_distinct_identities(mode):
    pids = market_like_pids()
    sampler = PKIdentitySampler(pids, 16, 4, seed=3, mode=mode)
    batches = sampler.batches()
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 64 == sampler.batch_size
        counts = Counter(pids[i] for i in batch)
        assert len(counts) == 16 and set(counts.values()) == {4}
        # The K images of an identity are consecutive, as the loss's reference code expects.
        assert [pids[i] for i in batch] == [pids[batch[k]] for k in range(0, 64, 4) for _ in range(4)]


def test_identity_mode_uses_each_identity_once_per_epoch():
    pids = market_like_pids(num_ids=50)
    sampler = PKIdentitySampler(pids, 16, 4, seed=0, mode="identity")
    used = Counter(pids[batch[k]] for batch in sampler.batches() for k in range(0, 64, 4))
    assert len(sampler) == 50 // 16 == 3
    assert set(used.values()) == {1} and len(used) == 48  # the last 2 identities are dropped
    # Identities with at least K images: K distinct images; fewer: with replacement.
    for batch in sampler.batches():
        for k in range(0, 64, 4):
            group = batch[k:k + 4]
            available = pids.count(pids[group[0]])
            assert len(set(group)) == 4 if available >= 4 else len(set(group)) <= available


def test_all_images_mode_uses_each_image_at_most_once_and_most_of_them():
    pids = market_like_pids(num_ids=60, low=4, high=14)
    sampler = PKIdentitySampler(pids, 8, 4, seed=1, mode="all_images")
    used = Counter(i for batch in sampler.batches() for i in batch)
    assert set(used.values()) == {1}
    # Every identity's images in chunks of 4 (remainders dropped); the draw stops with < P
    # identities left, so only a few chunks go unused.
    usable = sum(n - n % 4 for n in Counter(pids).values())
    assert usable - 8 * 4 * 4 <= len(used) <= usable
    assert len(sampler) > PKIdentitySampler(pids, 8, 4, mode="identity").__len__()


@pytest.mark.parametrize("mode", SAMPLER_MODES)
def test_an_identity_with_one_image_is_repeated_k_times(mode):
    pids = [0] + [pid for pid in range(1, 8) for _ in range(5)]  # pid 0 has a single image (index 0)
    sampler = PKIdentitySampler(pids, 8, 4, seed=0, mode=mode)
    batches = sampler.batches()
    assert sampler.num_small_identities == 1
    assert any(batch.count(0) == 4 for batch in batches)
    for batch in batches:
        assert batch.count(0) in (0, 4)


def test_small_identities_can_be_dropped_or_refused():
    pids = [0, 1, 1, 2, 2, 2, 2] + [pid for pid in range(3, 6) for _ in range(4)]
    dropped = PKIdentitySampler(pids, 2, 4, small_identities="drop")
    assert set(dropped.index_by_pid) == {2, 3, 4, 5}
    for epoch in range(5):
        assert all(pids[i] not in (0, 1) for batch in dropped.batches(epoch) for i in batch)
    with pytest.raises(UserError) as error:
        PKIdentitySampler(pids, 2, 4, small_identities="error")
    message = str(error.value)
    assert "2 identities have fewer than num_instances=4 images (pid 0 has 1)" in message
    assert "\n" not in message and "small_identities" in message


@pytest.mark.parametrize("mode", SAMPLER_MODES)
def test_batches_are_a_function_of_seed_and_epoch_alone(mode):
    pids = market_like_pids()
    run = PKIdentitySampler(pids, 16, 4, seed=7, mode=mode)
    epochs = []
    for epoch in range(4):
        run.set_epoch(epoch)
        epochs.append(list(run))
    # A resumed run: a fresh sampler at epoch 2, with the global random state disturbed.
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    resumed = PKIdentitySampler(pids, 16, 4, seed=7, epoch=2, mode=mode)
    assert list(resumed) == epochs[2]
    assert resumed.batches(3) == epochs[3]
    assert epochs[0] != epochs[1] != epochs[2]
    assert PKIdentitySampler(pids, 16, 4, seed=8, mode=mode).batches(0) != epochs[0]


class _Indices(Dataset):
    def __init__(self, pids):
        self.pids = pids

    def __len__(self):
        return len(self.pids)

    def __getitem__(self, index):
        return index, self.pids[index]


def test_works_as_a_dataloader_batch_sampler():
    pids = market_like_pids()
    sampler = PKIdentitySampler(pids, 16, 4, seed=0)
    loader = DataLoader(_Indices(pids), batch_sampler=sampler)
    loaded = [indices.tolist() for indices, _ in loader]
    assert loaded == sampler.batches() and len(loader) == len(sampler)


def test_from_items_reads_the_pid_of_each_item():
    items = [(f"img{i}.jpg", pid, 0) for i, pid in enumerate(market_like_pids(20))]
    sampler = PKIdentitySampler.from_items(items, num_identities=4, num_instances=2)
    assert all(len({items[i][1] for i in b}) == 4 for b in sampler.batches())


@pytest.mark.parametrize("args, kwargs, message", [
    ((list(range(3)) * 4, 16, 4), {}, "only 3 training identities can be sampled, fewer than num_identities=16"),
    (([0, 0, 1, 1], 2, 1), {}, "num_instances must be an integer >= 2"),
    (([0, 0, 1, 1], 1, 2), {}, "num_identities must be an integer >= 2"),
    (([0, 0, 1, 1], 2, 2), {"mode": "random"}, "unknown identity-sampler mode 'random'"),
    (([0, 0, 1, 1], 2, 2), {"small_identities": "skip"}, "unknown small_identities rule 'skip'"),
    (([0, 0, 1, 1], 2, 2), {"seed": -1}, "seed must be an integer >= 0"),
    (([], 2, 2), {}, "non-empty list of integer pids"),
])
def test_bad_arguments_are_one_line_user_errors(args, kwargs, message):
    with pytest.raises(UserError) as error:
        PKIdentitySampler(*args, **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)
