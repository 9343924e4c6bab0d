import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import signmusketeers.synthsign as ss
from signmusketeers.cli import main


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    for name, seed, workers in (("a", 3, 1), ("b", 3, 2), ("c", 4, 1)):  # b: the same files from 2 processes
        argv = ["synth", "--out", str(tmp_path / name), "--clips", "6", "--seed", str(seed), "--preview"]
        assert main(argv + ["--workers", str(workers)]) == 0
    a, b, c = (_files(tmp_path / name) for name in "abc")
    for files in (a, b, c):
        files.pop("preview.png")  # the picture is for people; its bytes may depend on the PNG encoder
    assert a.keys() == b.keys() and len(a) == 6 * 2 + 2
    assert all(a[key] == b[key] for key in a), [key for key in a if a[key] != b[key]]
    videos_a = {k: v for k, v in a.items() if k.startswith("videos/")}
    videos_c = {k.replace("-4-", "-3-"): v for k, v in c.items() if k.startswith("videos/")}
    assert all(videos_a[key] != videos_c[key] for key in videos_a)
    assert (tmp_path / "a" / "preview.png").stat().st_size > 10_000


def test_manifest_rows_match_their_files(synthsign_small):
    rows = [json.loads(line) for line in (synthsign_small / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["split"] for r in rows} == {"train", "val", "test"}
    for row in rows:
        assert set(row) >= {"clip_id", "video", "landmarks", "start", "end", "text", "split", "fps", "frames"}
        with av.open(str(synthsign_small / row["video"])) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == row["frames"] and frames[0].shape == (row["height"], row["width"], 3)
        landmarks = np.load(synthsign_small / row["landmarks"])
        n = row["frames"]
        assert landmarks["pose"].shape == (n, 33, 3) and landmarks["face"].shape == (n, 468, 2)
        assert landmarks["left_hand"].shape == (n, 21, 2) and landmarks["right_hand"].shape == (n, 21, 2)
        for part in ("face", "left_hand", "right_hand"):
            present = landmarks[f"present_{part}"]
            assert np.isnan(landmarks[part][~present]).all() and np.isfinite(landmarks[part][present]).all()


def test_hands_rest_below_the_frame_at_clip_ends_and_are_marked_missing(synthsign_small):
    landmarks = np.load(next((synthsign_small / "landmarks").glob("*.npz")))
    for side in ("left", "right"):
        present = landmarks[f"present_{side}_hand"]
        assert not present[0] and not present[-1] and present.mean() > 0.6
        assert (landmarks[f"{side}_handshape"][~present] == -1).all()


def test_left_and_right_are_the_signers_own():
    rng = ss.clip_seed(0, 0)
    clip = ss.render_clip(ss.sample_sentence(rng, "train"), rng)
    pose, lm = clip.landmarks["pose"], clip.landmarks
    # a signer facing the camera has their left side on the image's right
    assert (pose[:, 11, 0] > pose[:, 12, 0]).all() and (pose[:, 2, 0] > pose[:, 5, 0]).all()
    both = lm["present_left_hand"] & lm["present_right_hand"]
    assert both.any()
    # the pose wrists sit on the hand landmarks' wrists
    np.testing.assert_allclose(pose[both, 15, :2], lm["left_hand"][both, 0], atol=1e-3)
    np.testing.assert_allclose(pose[both, 16, :2], lm["right_hand"][both, 0], atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rendered_pixels_agree_with_landmarks(seed):
    rng = ss.clip_seed(seed, 0)
    clip = ss.render_clip(ss.sample_sentence(rng, "train"), rng, with_masks=True)
    lm = clip.landmarks
    checked = 0
    for t in range(0, len(clip.frames), 3):
        face_mask = cv2.dilate(clip.masks[t, 0], np.ones((3, 3), np.uint8))
        x, y = np.round(lm["face"][t]).astype(int).T
        assert face_mask[y, x].all(), f"face landmark outside the drawn face at frame {t}"
        for index, part in ((1, "left_hand"), (2, "right_hand")):
            if not lm[f"present_{part}"][t]:
                continue
            points = lm[part][t]
            margin = 0.1 * np.ptp(lm["face"][t][:, 0]) + 2  # half the drawn finger width, plus antialiasing
            lo, hi = points.min(0) - margin, points.max(0) + margin
            ys, xs = np.nonzero(clip.masks[t, index])
            assert len(xs) > 30
            assert (xs >= lo[0]).all() and (xs <= hi[0]).all() and (ys >= lo[1]).all() and (ys <= hi[1]).all()
            checked += 1
    assert checked > 10


def test_every_word_is_recoverable_from_its_streams():
    signs = list(ss.VOCABULARY.values())
    assert len(ss.VOCABULARY) == 40
    assert len(set(signs)) == len(signs), "two words share a sign"
    for sign in signs:
        assert sign.right in ss.HANDSHAPES and sign.left in ss.HANDSHAPES
        assert sign.location in ss.LOCATIONS and sign.movement in ss.MOVEMENTS and sign.face in ss.EXPRESSIONS
    pairs = ss.minimal_pairs()
    # every stream carries information that no other stream has
    assert all(len(pairs[stream]) >= 2 for stream in ("face", "left", "right", "pose")), pairs
    assert ("big", "small") in pairs["face"] and ("book", "ball") in pairs["left"] and ("red", "blue") in pairs["right"]
    assert ("I", "you") in pairs["pose"]
    grammar_words = set(ss.SUBJECTS) | set(ss.VERBS) | set(ss.ADJECTIVES) | set(ss.NOUNS) | set(ss.TIMES)
    assert grammar_words == set(ss.VOCABULARY)


def test_stream_of_difference_names_the_single_changed_stream():
    base = ss.Sign("fist", "flat", "chest", "hold", "neutral")
    assert ss.stream_of_difference(base, ss.Sign("fist", "flat", "chest", "hold", "smile")) == "face"
    assert ss.stream_of_difference(base, ss.Sign("v", "flat", "chest", "hold", "neutral")) == "right"
    assert ss.stream_of_difference(base, ss.Sign("fist", "l", "chest", "hold", "neutral")) == "left"
    assert ss.stream_of_difference(base, ss.Sign("fist", "flat", "chin", "circle", "neutral")) == "pose"
    assert ss.stream_of_difference(base, ss.Sign("v", "l", "chest", "hold", "neutral")) is None


def test_splits_hold_out_combinations_not_words():
    split_of = {(v, n): ss.split_of_pair(v, n) for v in ss.VERBS for n in ss.NOUNS}
    counts = {s: sum(1 for x in split_of.values() if x == s) for s in ("train", "val", "test")}
    assert counts == {"train": 52, "val": 6, "test": 6}
    train_pairs = [pair for pair, split in split_of.items() if split == "train"]
    assert {v for v, _ in train_pairs} == set(ss.VERBS) and {n for _, n in train_pairs} == set(ss.NOUNS)
    rng = np.random.default_rng(0)
    train = {ss.sample_sentence(rng, "train").text for _ in range(3000)}
    test = {ss.sample_sentence(rng, "test").text for _ in range(500)}
    assert not train & test
    train_words = {w for s in train for w in s.rstrip(".").lower().split()}
    assert {w for s in test for w in s.rstrip(".").lower().split()} <= train_words


def test_written_sets_have_no_test_sentence_in_train(tmp_path):
    ss.generate(tmp_path, clips=30, seed=11, config=ss.SynthSignConfig(width=128, height=96))
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    by_split = {s: {r["text"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert len(by_split["test"]) >= 3 and len(by_split["val"]) >= 3
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["val"]


def test_sentence_text_is_english():
    assert ss.Sentence("mother", "have", "red", "ball", None).text == "My mother has the red ball."
    assert ss.Sentence("I", "see", "big", "dog", "every day").text == "I see the big dog every day."
    assert ss.Sentence("friend", "like", "new", "car", "now").signs == ["now", "friend", "like", "car", "new"]


def test_synth_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    for options, problem in (
        (["--clips", "0"], "--clips must be at least 1"),
        (["--width", "64"], "--width and --height must be at least 96 pixels"),
    ):
        assert main(["synth", "--out", str(tmp_path / "unused"), *options]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"signmusketeers synth: {problem}"]
    assert not (tmp_path / "unused").exists()
