"""The bad-input catalogue: one test per kind of bad input across parse, extract, fit, translate and export.

Each bad input must give one line ``signmusketeers CMD: FILE: REASON`` on stderr (for ``fit``: jsonargparse's own
message, never a traceback), a non-zero exit, and every other input's output kept. Inputs that are unusual but
valid (grayscale, variable frame rate, a huge frame) must be processed, not refused.

Cases already tested elsewhere (not repeated here):

* empty file, non-video file, missing file, a clip with no person, a one-frame clip through ``signmusketeers parse``
  (with the good clip kept and the failures logged): ``tests/parsing/test_command.py::
  test_bad_inputs_are_reported_logged_and_exit_1``; the same reasons from ``FrameParser``:
  ``tests/parsing/test_parser.py::test_bad_inputs_fail_with_one_line_naming_the_file``;
* truncated files at the decoder: ``tests/parsing/test_video.py::test_bad_files_name_the_file_and_the_reason`` and
  ``::test_truncated_stream_with_its_header_intact_is_refused``;
* grayscale and VFR decoding: ``tests/parsing/test_video.py::test_grayscale_and_odd_sizes_become_rgb`` and
  ``::test_variable_frame_rate_keeps_real_timestamps`` (here: through the whole ``parse`` command);
* a bad encoder file for extract: ``tests/translate/test_extract.py::test_bad_encoder_path_is_one_line``;
* bad manifests: ``tests/data/test_manifests.py::test_bad_manifests_name_the_file_and_line``;
* a video translate cannot read, the others still translated:
  ``tests/translate/test_inference.py::test_translate_reports_bad_videos_and_goes_on``;
* records that would be pickled into a shard:
  ``tests/data/test_shards.py::test_records_that_would_be_pickled_are_refused``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from signmusketeers.cli import main
from signmusketeers.data.shard_manifest import read_failures
from signmusketeers.data.shards import ShardWriter, open_dataset
from signmusketeers.formats.records import pack_jpegs
from tests.parsing.media import noise_frames, write_video
from tests.parsing.test_command import synth_folder
from tests.parsing.test_parser import synthetic_landmarks

REPO = Path(__file__).resolve().parents[1]


def add_to_manifest(
    folder: Path,
    clip_id: str,
    video: Path,
    frames: int,
    width: int,
    height: int,
    text: str = "a sentence",
    split: str = "train",
) -> None:
    """Append one clip with precomputed landmarks (no MediaPipe: fast) to ``folder/manifest.jsonl``."""
    landmarks = synthetic_landmarks(folder / f"{clip_id}.npz", frames, width, height)
    row = {"clip_id": clip_id, "video": str(video), "landmarks": str(landmarks), "text": text, "split": split}
    with open(folder / "manifest.jsonl", "a") as handle:
        handle.write(json.dumps(row) + "\n")


def parse(folder: Path, out: Path) -> int:
    return main(["parse", str(folder), "--out", str(out), "--crop-size", "32"])


def stderr_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


# ------------------------------------------------------------------------------------------ parse


def test_parse_truncated_video_is_one_line_and_the_rest_is_written(tmp_path: Path, capsys) -> None:
    folder = synth_folder(tmp_path / "synth", 1)
    whole = write_video(tmp_path / "whole.mp4", noise_frames(40, 128, 96), fps=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    add_to_manifest(folder, "cut", cut, 40, 128, 96)
    out = tmp_path / "clips"
    assert parse(folder, out) == 1
    lines = [line for line in stderr_lines(capsys) if str(cut) in line]
    assert len(lines) == 1 and lines[0].startswith(f"signmusketeers parse: {cut}: ")
    assert "Traceback" not in lines[0]
    assert [r["clip_id"] for r in open_dataset(out, "clips")] == ["clip000"]
    assert [f["input"] for f in read_failures(out)] == [str(cut)]


def test_parse_huge_frame_is_parsed_to_crops(tmp_path: Path) -> None:
    """A 4K frame: decoded, cropped at the crop size, its real size recorded (no refusal, no resize of the pose)."""
    image = np.zeros((2160, 3840, 3), np.uint8)
    image[..., 0] = np.arange(3840)[None, :] % 256
    folder = tmp_path / "synth"
    folder.mkdir()
    video = write_video(folder / "huge.mp4", [image] * 3, fps=10)
    add_to_manifest(folder, "huge", video, 3, 3840, 2160)
    out = tmp_path / "clips"
    assert parse(folder, out) == 0
    (record,) = list(open_dataset(out, "clips"))
    assert list(record["size"]) == [2160, 3840] and list(record["frames"]) == [0, 2]
    assert record["boxes"].max() <= 3840 and record["pose"].shape == (2, 14)


def test_parse_grayscale_and_variable_frame_rate_videos(tmp_path: Path) -> None:
    folder = tmp_path / "synth"
    folder.mkdir()
    gray = write_video(folder / "gray.mkv", [np.full((96, 128), 40 * i, np.uint8) for i in range(4)], pix_fmt="gray")
    add_to_manifest(folder, "gray", gray, 4, 128, 96)
    times = [0.0, 0.05, 0.3, 0.35, 1.0, 1.02]
    vfr = write_video(folder / "vfr.mp4", noise_frames(6, 128, 96), fps=10, times=times)
    add_to_manifest(folder, "vfr", vfr, 6, 128, 96)
    out = tmp_path / "clips"
    assert parse(folder, out) == 0
    records = {r["clip_id"]: r for r in open_dataset(out, "clips")}
    assert sorted(records) == ["gray", "vfr"]
    assert list(records["gray"]["frames"]) == [0, 2]
    np.testing.assert_allclose(records["vfr"]["timestamps"], [0.0, 0.3, 1.0], atol=1e-3)  # real times, stride 2


def test_parse_empty_transcript_is_one_line_and_the_clip_is_kept(tmp_path: Path, capsys) -> None:
    """A clip of a train/val/test split without text: said in one line; kept, because its crops still serve
    pre-training and its text may come later from a text manifest (``ClipFeatureDataModule(texts=...)``)."""
    folder = synth_folder(tmp_path / "synth", 1)
    add_to_manifest(folder, "silent", folder / "clip000.mp4", 6, 160, 120, text="  ")
    out = tmp_path / "clips"
    assert parse(folder, out) == 0
    lines = [line for line in stderr_lines(capsys) if "empty transcript" in line]
    assert lines == [
        f"signmusketeers parse: {folder / 'clip000.mp4'}: clip 'silent' of split 'train' has an empty "
        "transcript (kept; give its text in the manifest, or to training with a text manifest)"
    ]
    assert sorted(r["clip_id"] for r in open_dataset(out, "clips")) == ["clip000", "silent"]


# ------------------------------------------------------------------------------------------ extract


def test_extract_corrupted_records_are_one_line_each_and_the_rest_is_extracted(tmp_path: Path, capsys) -> None:
    """Two kinds of damage: a record whose JPEG bytes are garbage, and a chunk file cut short on disk."""
    from signmusketeers.pretrain.encoder import build_encoder, save_encoder

    rng = np.random.default_rng(0)
    clips = tmp_path / "clips"
    with ShardWriter(clips, "clips", {"command": "tests"}, segment_bytes=1) as writer:  # one chunk per clip
        for index in range(4):
            data, offsets = pack_jpegs(list(rng.integers(0, 256, (6, 28, 28, 3), dtype=np.uint8)))
            if index == 1:  # the bytes of this record's JPEGs are damaged
                data = data.copy()
                data[: len(data) // 2] = 7
            writer.write(
                f"clip{index}",
                [
                    {
                        "crops": data,
                        "offsets": offsets,
                        "pose": rng.random((2, 14)).astype(np.float32),
                        "provenance": np.zeros((2, 3), np.uint8),
                        "frames": np.arange(2),
                        "fps": np.array([25.0], np.float32),
                        "text": f"sentence {index}",
                        "split": "train",
                        "clip_id": f"clip{index}",
                    }
                ],
            )
        writer.finish()
    chunks = json.loads((clips / "index.json").read_text())["chunks"]
    assert [c["chunk_size"] for c in chunks] == [1, 1, 1, 1]
    cut = clips / chunks[2]["filename"]  # record 2's chunk, cut short
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    encoder = save_encoder(build_encoder(img_size=28, embed_dim=32, depth=1, num_heads=2, seed=1), tmp_path / "enc")
    argv = [
        "extract",
        str(clips),
        "--face-encoder",
        str(encoder),
        "--hand-encoder",
        str(encoder),
        "--out",
        str(tmp_path / "features"),
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(argv) == 1
    lines = stderr_lines(capsys)
    assert lines[:2] == [
        f"signmusketeers extract: {clips}: clip clip1: corrupted JPEG record",
        f"signmusketeers extract: {clips}: record 2: unreadable (Timed out after 2s waiting for chunk {cut})",
    ]
    assert len(lines) == 3 and lines[2].startswith("signmusketeers extract: 2 clips written, 0 already done, 2 failed")
    kept = sorted(r["clip_id"] for r in open_dataset(tmp_path / "features" / "train", "features"))
    assert kept == ["clip0", "clip3"]
    assert [f["key"] for f in read_failures(tmp_path / "features" / "unsplit")] == ["clip1", "record 2"]


# ------------------------------------------------------------------------------------------ fit (config)


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")  # pytest's own argv beside ours
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("lr: 1.0e-3 ", "lrr: 1.0e-3 ", "Option 'lrr' is not accepted"),
        ("batch_size: 16 ", "batch_size: sixteen ", "Expected a <class 'int'>. Got value: sixteen"),
    ],
    ids=["wrong-key", "wrong-type"],
)
def test_fit_config_with_a_wrong_key_or_type_is_jsonargparse_message(tmp_path: Path, capsys, old, new, message):
    text = (REPO / "configs/demo/translate.yaml").read_text()
    assert old in text
    config = tmp_path / "bad.yaml"
    config.write_text(text.replace(old, new))
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(config)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "error: Parser key" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ checkpoints


def pretrain_checkpoint(path: Path) -> Path:
    """What ``fit`` writes for DinoV2PretrainModule, in the parts export reads: teacher backbone weights."""
    from signmusketeers.pretrain.encoder import build_encoder
    from signmusketeers.pretrain.export import TEACHER_PREFIX

    teacher = build_encoder(img_size=28, embed_dim=32, depth=1, num_heads=2, seed=3)
    state = {TEACHER_PREFIX + k: v for k, v in teacher.backbone.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"model_kwargs": {"img_size": 28}}, "global_step": 1}, path)
    return path


def test_translate_with_a_pretraining_checkpoint_is_one_line(tmp_path: Path, capsys) -> None:
    checkpoint = pretrain_checkpoint(tmp_path / "pretrain.ckpt")
    video = write_video(tmp_path / "v.mp4", noise_frames(3), fps=10)
    assert main(["translate", str(video), "--checkpoint", str(checkpoint)]) == 2
    err = stderr_lines(capsys)
    assert err == [
        f"signmusketeers translate: {checkpoint}: not a TranslationModule checkpoint (no t5_config/state_dict)"
    ]


def test_export_with_a_translation_checkpoint_is_one_line(tmp_path: Path, capsys) -> None:
    from tests.translate.test_inference import demo_checkpoint

    checkpoint = demo_checkpoint(tmp_path)
    capsys.readouterr()  # Lightning's own messages while making the checkpoint
    out = tmp_path / "encoder.safetensors"
    assert main(["export", str(checkpoint), "--out", str(out)]) == 1
    assert stderr_lines(capsys) == [
        f"signmusketeers export: {checkpoint}: no teacher backbone weights (not a DinoV2PretrainModule checkpoint)"
    ]
    assert not out.exists()


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_fit_with_a_checkpoint_of_another_model_is_one_line(tmp_path: Path, capsys) -> None:
    """LightningCLI would take the model class from the checkpoint (here the pre-training module) and fail deep in
    the run; the mismatch is said first. A checkpoint of the config's own model class passes the check."""
    checkpoint = pretrain_checkpoint(tmp_path / "pretrain.ckpt")
    state = torch.load(checkpoint, weights_only=True)
    state["hyper_parameters"]["_class_path"] = "signmusketeers.pretrain.module.DinoV2PretrainModule"  # as fit saves it
    torch.save(state, checkpoint)
    for command in ("fit", "validate"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--config", str(REPO / "configs/demo/translate.yaml"), "--ckpt_path", str(checkpoint)])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.splitlines() == [
            f"signmusketeers {command}: {checkpoint}: a checkpoint of DinoV2PretrainModule, but the config's model is "
            "TranslationModule"
        ]
    from signmusketeers.cli import _checkpoint_problem

    state["hyper_parameters"]["_class_path"] = "signmusketeers.translate.module.TranslationModule"
    torch.save(state, checkpoint)
    assert _checkpoint_problem("fit", "signmusketeers.translate.TranslationModule", str(checkpoint)) is None


# ------------------------------------------------------------------------------------------ safety


class RunsCodeWhenUnpickled:
    """Unpickling this object creates ``marker``: what a hostile checkpoint could do with any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_checkpoints_with_pickled_code_are_refused_without_running_it(tmp_path: Path, capsys) -> None:
    from signmusketeers.translate import TranslationModule
    from tests.translate.test_inference import demo_checkpoint

    marker = tmp_path / "code-ran"
    checkpoint = demo_checkpoint(tmp_path)
    state = torch.load(checkpoint, weights_only=True)
    state["callbacks"] = {"Hostile": RunsCodeWhenUnpickled(marker)}
    hostile = tmp_path / "hostile.ckpt"
    torch.save(state, hostile)
    torch.load(hostile, weights_only=False)  # the test's premise: loading it the unsafe way runs the code
    assert marker.exists()
    marker.unlink()
    capsys.readouterr()

    with pytest.raises(ValueError, match=f"^{hostile}: not a readable checkpoint \\(.*\\)$"):
        TranslationModule.from_checkpoint(hostile)
    video = write_video(tmp_path / "v.mp4", noise_frames(3), fps=10)
    assert main(["translate", str(video), "--checkpoint", str(hostile)]) == 2
    assert len(stderr_lines(capsys)) == 1
    assert main(["export", str(hostile), "--out", str(tmp_path / "e.safetensors")]) == 1
    assert len(stderr_lines(capsys)) == 1
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(REPO / "configs/demo/translate.yaml"), "--ckpt_path", str(hostile)])
    assert exit_.value.code == 2
    assert stderr_lines(capsys) == [
        f"signmusketeers fit: {hostile}: holds objects other than tensors and plain "
        "data, refused (checkpoints load with weights_only=True): " + stderr_reason(hostile)
    ]
    assert not marker.exists()


def stderr_reason(checkpoint: Path) -> str:
    import pickle

    with pytest.raises(pickle.UnpicklingError) as error:
        torch.load(checkpoint, weights_only=True)
    return str(error.value).strip().splitlines()[0]


@pytest.mark.parametrize("name", ["../escaped.json", "/tmp/escaped.json", "sub/escaped.json", ".."])
def test_checkpoint_tokenizer_files_cannot_write_outside_their_folder(tmp_path: Path, name: str) -> None:
    from signmusketeers.translate import TranslationModule
    from tests.translate.test_inference import demo_checkpoint

    checkpoint = demo_checkpoint(tmp_path / "run")
    state = torch.load(checkpoint, weights_only=True)
    state["tokenizer_files"][name] = b"{}"
    torch.save(state, checkpoint)
    with pytest.raises(ValueError, match=f"^{checkpoint}: tokenizer file name '{name}' is not a plain file name$"):
        TranslationModule.from_checkpoint(checkpoint)
    assert not (tmp_path / "escaped.json").exists() and not Path("/tmp/escaped.json").exists()


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_ckpt_path_last_finds_the_killed_runs_checkpoint(tmp_path: Path, capsys) -> None:
    """``--ckpt_path last`` resolves to the newest last.ckpt under default_root_dir (Lightning alone would look in
    the new run's empty version folder and start afresh); here it is another model's, so the run stops there."""
    import os

    from signmusketeers.cli import newest_last_checkpoint

    root = tmp_path / "runs"
    assert newest_last_checkpoint(root) is None
    paths = []
    for version in (0, 1):
        folder = root / "lightning_logs" / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        checkpoint = pretrain_checkpoint(folder / "last.ckpt")
        state = torch.load(checkpoint, weights_only=True)
        state["hyper_parameters"]["_class_path"] = "signmusketeers.pretrain.module.DinoV2PretrainModule"
        torch.save(state, checkpoint)
        os.utime(checkpoint, (1_000_000 + version, 1_000_000 + version))
        paths.append(checkpoint)
    assert newest_last_checkpoint(root) == str(paths[1])
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "fit",
                "--config",
                str(REPO / "configs/demo/translate.yaml"),
                "--trainer.default_root_dir",
                str(root),
                "--ckpt_path",
                "last",
            ]
        )
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"signmusketeers fit: resuming from {paths[1]}",
        f"signmusketeers fit: {paths[1]}: a checkpoint of DinoV2PretrainModule, but the config's model is "
        "TranslationModule",
    ]
