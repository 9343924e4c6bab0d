"""The k-NN probe with the user's own labels: a CSV `clip_id,frame,label` (frame optional, + side, split) matched
against the crop records, with one-line errors for rows that match no crop."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from signmusketeers.pretrain import DinoV2PretrainModule
from signmusketeers.pretrain.probe import KNNProbe
from signmusketeers.pretrain.probe_labels import CropLabels, labelled_crops

NAMES = ["disc", "square", "bar", "pillar"]  # the fixture's four shapes, as a user would name them


def synthsign_rows(labels_dir) -> list[dict]:
    """The fixture's SynthSign labels as per-frame user rows (clip_id, frame, label, split)."""
    rows = []
    for line in (labels_dir / "manifest.jsonl").read_text().splitlines():
        clip = json.loads(line)
        expressions = np.load(labels_dir / clip["landmarks"])["expression"]
        rows += [
            {"clip_id": clip["clip_id"], "frame": f, "label": NAMES[int(e)], "split": clip["split"]}
            for f, e in enumerate(expressions)
        ]
    return rows


def write_csv(path, rows, columns) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_csv_labels_give_the_same_probe_set_and_scores_as_synthsign(crop_shards, tmp_path):
    crops, labels_dir = crop_shards
    path = write_csv(tmp_path / "labels.csv", synthsign_rows(labels_dir), ["clip_id", "frame", "label", "split"])
    images, ids, is_query = labelled_crops(crops, path, part="face")
    ref_images, ref_ids, ref_query = labelled_crops(crops, labels_dir, part="face")
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(is_query, ref_query)
    assert [NAMES[i] for i in ref_ids] == [CropLabels(path).names[i] for i in ids]  # the same labels, by name
    module = DinoV2PretrainModule(
        model_kwargs=dict(img_size=56, embed_dim=32, depth=2, num_heads=2, init_values=1.0),
        n_prototypes=16,
        head_hidden_dim=16,
        head_bottleneck_dim=8,
    ).eval()
    ours = KNNProbe(str(crops), path, k=5, part="face").measure(module)
    assert ours == KNNProbe(str(crops), str(labels_dir), k=5, part="face").measure(module)
    assert ours == pytest.approx(knn_restated(module, images, ids, is_query, k=5))


def knn_restated(module, images, ids, is_query, k, temperature=0.07) -> dict:
    """The probe restated: the teacher's CLS features of the crops (bicubic-resized to the ViT's size, ImageNet
    normalisation, eval mode), L2-normalised; each query's k most cosine-similar bank crops vote with weight
    exp(sim / T); top-1 and the mean per-class accuracy over the query classes."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(56, 56), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)  # 64 -> 56
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    with torch.no_grad():
        features = F.normalize(module.teacher["backbone"].eval()(x)["cls"], dim=-1).numpy()
    bank, bank_ids, queries, truth = features[~is_query], ids[~is_query], features[is_query], ids[is_query]
    predicted = []
    for query in queries:
        similarity = bank @ query
        nearest = np.argsort(-similarity)[:k]
        votes = np.zeros(ids.max() + 1)
        np.add.at(votes, bank_ids[nearest], np.exp(similarity[nearest] / temperature))
        predicted.append(votes.argmax())
    right = np.asarray(predicted) == truth
    return {"top1": right.mean(), "balanced": np.mean([right[truth == c].mean() for c in np.unique(truth)])}


def test_clip_labels_side_rows_and_a_hashed_split(crop_shards, tmp_path):
    crops, labels_dir = crop_shards
    clips = [f"clip{c:02d}" for c in range(8)]
    rows = [{"clip_id": c, "label": "early" if i < 4 else "late"} for i, c in enumerate(clips)]
    rows.append({"clip_id": "clip01", "frame": 3, "label": "special"})  # a frame row overrides its clip's row
    rows.append({"clip_id": "clip02", "frame": 5, "side": "face", "label": "special"})
    path = write_csv(tmp_path / "clips.csv", rows, ["clip_id", "frame", "side", "label"])
    labels = CropLabels(path)
    images, ids, is_query = labelled_crops(crops, path)
    assert len(images) == 8 * 12  # every crop of every labelled clip
    names = [labels.names[i] for i in ids]
    assert names.count("special") == 2 and names.count("early") == 4 * 12 - 2
    # no split column: a fifth of the clips (by a hash of their id) are queries, whole clips only
    assert len(labels.queries) == 2 and is_query.sum() == 2 * 12


def test_rows_matching_no_crop_are_one_line_errors(crop_shards, tmp_path):
    crops, _ = crop_shards
    columns = ["clip_id", "frame", "label"]
    path = write_csv(
        tmp_path / "a.csv",
        [
            {"clip_id": "clip00", "label": "x"},
            {"clip_id": "clip01", "label": "y"},
            {"clip_id": "nowhere", "label": "x"},
        ],
        columns,
    )
    with pytest.raises(ValueError) as error:
        labelled_crops(crops, path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}:4: clip 'nowhere' matches no crop")
    assert "1 of 3 label rows match none" in message
    path = write_csv(
        tmp_path / "b.csv",
        [
            {"clip_id": "clip00", "label": "x"},
            {"clip_id": "clip01", "label": "y"},
            {"clip_id": "clip00", "frame": 99, "label": "x"},
        ],
        columns,
    )
    with pytest.raises(
        ValueError,
        match=r"b.csv:4: clip 'clip00' frame 99 matches no crop: .* holds crops of "
        r"frames 0, 1, 2, 3, 4, 5, 6, 7, \.\.\. of it",
    ):
        labelled_crops(crops, path)
    # and in the callback, where ranks' shares are pooled first
    with pytest.raises(ValueError, match="b.csv:4"):
        KNNProbe(str(crops), path).measure(
            DinoV2PretrainModule(
                model_kwargs=dict(img_size=56, embed_dim=32, depth=1, num_heads=2),
                n_prototypes=16,
                head_hidden_dim=16,
                head_bottleneck_dim=8,
            )
        )


def test_a_missing_label_file_is_named(crop_shards, tmp_path):
    with pytest.raises(ValueError, match=r"nothere.csv: no such label file"):
        labelled_crops(crop_shards[0], tmp_path / "nothere.csv")


@pytest.mark.parametrize(
    "text, message",
    [
        ("clip,label\nclip00,x\n", "needs columns clip_id,label"),
        ("clip_id,frame,label\nclip00,three,x\n", "bad.csv:2: frame 'three' is not an integer"),
        ("clip_id,frame,label\nclip00,3,x\nclip00,3,y\n", "bad.csv:3: clip 'clip00' frame 3 is labelled 'y' here"),
        ("clip_id,label,split\nclip00,x,train\nclip00,x,test\n", "bad.csv:3: clip 'clip00' is in split 'test'"),
        ("clip_id,label,side\nclip00,x,nose\n", "bad.csv:2: side 'nose' is not face, left or right"),
    ],
)
def test_malformed_label_files_name_the_line(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        CropLabels(tmp_path / "bad.csv")


def test_probe_command_scores_exported_encoders_and_goes_on_past_a_bad_one(crop_shards, tmp_path, capsys):
    import torch
    import torch.nn.functional as F

    from signmusketeers.cli import main
    from signmusketeers.pretrain.encoder import build_encoder, load_encoder, save_encoder
    from signmusketeers.pretrain.probe import knn_scores

    crops, labels_dir = crop_shards
    path = write_csv(tmp_path / "labels.csv", synthsign_rows(labels_dir), ["clip_id", "frame", "label", "split"])
    small = {"img_size": 56, "embed_dim": 32, "depth": 1, "num_heads": 2, "init_values": 1.0}
    first = save_encoder(build_encoder(**small, seed=1), tmp_path / "first")
    second = save_encoder(build_encoder(**small, seed=2), tmp_path / "second")
    argv = [
        "probe",
        str(first),
        str(tmp_path / "missing"),
        str(second),
        "--crops",
        str(crops),
        "--labels",
        path,
        "--k",
        "5",
        "--json",
        "--device",
        "cpu",
    ]
    assert main(argv) == 1  # the missing encoder, after the others
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["encoder"] for r in rows] == [str(first), str(second)]
    assert len(err.strip().splitlines()) == 1 and err.startswith("signmusketeers probe: ")
    assert "missing.json: no such file" in err
    images, ids, is_query = labelled_crops(crops, path)
    assert rows[0]["queries"] == int(is_query.sum()) and rows[0]["classes"] == 4
    features = F.normalize(load_encoder(first)(torch.from_numpy(images)), dim=-1)
    expected = knn_scores(features, torch.as_tensor(ids), torch.as_tensor(is_query), k=5)
    assert rows[0]["top1"] == pytest.approx(expected["top1"]) and rows[0]["balanced"] == pytest.approx(
        expected["balanced"]
    )
