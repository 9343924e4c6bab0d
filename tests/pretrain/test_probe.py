"""The k-NN probe's vote and scores on hand-made features."""

import pytest
import torch
import torch.nn.functional as F

from signmusketeers.pretrain.probe import balanced_accuracy, knn_predict, knn_top1


def test_knn_vote_on_two_clusters():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]]), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1])
    queries = F.normalize(torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.6, 0.4]]), dim=1)
    assert knn_predict(bank, labels, queries, k=2).tolist() == [0, 1, 0]
    # k = 5: every bank point votes; the three class-1 points outvote the two near ones for the middle query
    assert knn_predict(bank, labels, queries[2:], k=5, temperature=10.0).tolist() == [1]
    assert knn_top1(bank, labels, queries, torch.tensor([0, 1, 1]), k=2) == pytest.approx(2 / 3)


def test_balanced_accuracy_discounts_the_majority_class():
    predictions, labels = torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1])
    assert balanced_accuracy(predictions, labels) == 0.5  # top-1 would be 0.75


def test_labelled_crops_keep_one_part_of_a_mixed_folder(crop_shards):
    from signmusketeers.pretrain.probe_labels import labelled_crops

    crops, labels = crop_shards  # face crops only
    images, face_labels, is_query = labelled_crops(crops, labels, part="face")
    assert len(images) == len(labelled_crops(crops, labels)[0]) > 0 and is_query.any() and not is_query.all()
    with pytest.raises(ValueError, match="no labelled crops"):
        labelled_crops(crops, labels, part="hand")
