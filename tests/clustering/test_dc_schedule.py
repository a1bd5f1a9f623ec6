"""When Divide and Conquer clusters, re-clusters and fine-tunes (004_82c542c12fef7e00.txt, §1; the
public code's train.py): the code's 200-epoch schedule, the two readings of when the loss takes the
full embedding, the baseline, and T larger than the epochs as a one-line error."""

from __future__ import annotations

import pytest

from dmlrepro.clustering import DivideAndConquerSchedule
from dmlrepro.errors import UserError


def test_the_codes_schedule_clusters_every_two_epochs_until_fine_tuning():
    s = DivideAndConquerSchedule(num_epochs=200, num_learners=8, recluster_every=2, finetune_epoch=190)
    assert s.cluster_epochs() == list(range(0, 190, 2))
    assert s.learners_at(189) == 8 and s.learners_at(190) == 1
    assert not s.in_finetune(189) and s.in_finetune(190) and s.in_finetune(199)
    assert not s.loss_on_full_embedding(189) and s.loss_on_full_embedding(190)


def test_the_codes_full_embedding_enters_the_loss_at_finetune_epoch_times_8_over_19():
    s = DivideAndConquerSchedule(200, 8, 2, 190, full_embedding_from="code")
    assert not s.loss_on_full_embedding(79) and s.loss_on_full_embedding(80)
    assert s.learners_at(80) == 8  # the data is still clustered
    odd = DivideAndConquerSchedule(30, 8, 2, 20, full_embedding_from="code")  # 20·8/19 = 8.42
    assert not odd.loss_on_full_embedding(8) and odd.loss_on_full_embedding(9)


def test_the_baseline_never_clusters_and_always_trains_the_full_embedding():
    s = DivideAndConquerSchedule(10, 1, recluster_every=2)
    assert s.cluster_epochs() == [] and all(s.loss_on_full_embedding(e) for e in range(10))
    assert s.learners_at(3) == 1


def test_without_reclustering_the_data_is_clustered_once():
    s = DivideAndConquerSchedule(10, 8, recluster_every=None, finetune_epoch=8)
    assert s.cluster_epochs() == [0]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(num_epochs=4, num_learners=8, recluster_every=5), r"T=5 is not below the 4 clustered"),
    (dict(num_epochs=10, num_learners=8, recluster_every=4, finetune_epoch=4), "set T < 4"),
    (dict(num_epochs=10, num_learners=8, finetune_epoch=11), "after the last"),
    (dict(num_epochs=10, num_learners=8, full_embedding_from="code"), "set a finetune_epoch"),
    (dict(num_epochs=10, num_learners=8, full_embedding_from="early"), "unknown choice"),
    (dict(num_epochs=0, num_learners=8), "num_epochs"),
    (dict(num_epochs=10, num_learners=8, recluster_every=0), "recluster_every"),
])
def test_bad_schedules_are_one_line_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message) as info:
        DivideAndConquerSchedule(**kwargs)
    assert "\n" not in str(info.value)


def test_t_larger_than_the_epochs_is_fine_for_the_baseline():
    assert DivideAndConquerSchedule(4, 1, recluster_every=5).cluster_epochs() == []
