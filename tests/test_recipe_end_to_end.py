"""The README's YouTube-ASL → How2Sign recipe, run as written.

The command block under "The paper's recipe: YouTube-ASL → How2Sign" is read from README.md itself, so the README and
this test cannot drift apart. It runs in one bash process, as a user pastes it, in a folder holding
``configs/``, ``youtube_asl/`` (three real signing videos, captions as ``.vtt``, ``.srt`` and ``.json3``),
``How2Sign/`` (the official layout: full videos, re-aligned CSVs of train, val and test) and ``clip.mp4``. Each
command gets only size options appended (a tiny ViT and T5.1.1, 56-px crops, a few crops and steps, one CPU); the
public DINOv2 weights come from a torch hub cache holding a file of the official key layout and shape.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from signmusketeers.data.shards import open_dataset
from tests.parsing.corpus_media import clip_frames, encode
from tests.pretrain.test_dinov2_weights import DEPTH, DIM, official_checkpoint

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- recipe: yt-to-h2s"

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared_data]

# What the fixture corpora say. YouTube-ASL: two cues per video (train); How2Sign: one full video per split.
YT_CUES = {
    "Ab-c_D12345": ["Hello, my friends.", "Today we learn signs."],
    "xyz_98765": ["I'm fine, thank you.", "See you tomorrow."],
    "QwErTy0000": ["Good morning everyone.", "Please sign slowly."],
}
H2S_ROWS = {
    "train": ["We mix the flour first.", "Then add two eggs.", "Stir it well.", "Bake it for an hour."],
    "val": ["Add the eggs slowly.", "Mix the flour."],
    "test": ["Bake the bread.", "Stir the eggs first."],
}
FACE_CROPS = HAND_CROPS = 12  # the recipe's 1M/1M budgets, scaled down

# Size options appended to each README command (argparse and LightningCLI: the last value given wins).
CPU = [
    "--trainer.accelerator",
    "cpu",
    "--trainer.devices",
    "1",
    "--trainer.strategy",
    "auto",
    "--trainer.enable_progress_bar",
    "false",
]
TINY_VIT = {
    "img_size": 56,
    "patch_size": 14,
    "reg_tokens": 4,
    "init_values": 1.0e-5,
    "embed_dim": DIM,
    "depth": DEPTH,
    "num_heads": 2,
}
PRETRAIN = CPU + [
    "--trainer.precision",
    "32-true",
    "--trainer.max_steps",
    "2",
    "--model.init_args.model_kwargs",
    json.dumps(TINY_VIT),
    "--model.init_args.n_prototypes",
    "64",
    "--model.init_args.head_hidden_dim",
    "48",
    "--model.init_args.head_bottleneck_dim",
    "16",
    "--data.init_args.batch_size",
    "4",
    "--data.init_args.num_workers",
    "0",
    "--data.init_args.global_crops_size",
    "56",
    "--data.init_args.local_crops_size",
    "28",
    "--data.init_args.n_local_crops",
    "2",
]


def translate_sizes(t5: Path) -> list[str]:
    return CPU + [
        "--trainer.max_steps",
        "4",
        "--trainer.val_check_interval",
        "2",
        "--model.t5",
        str(t5),
        "--model.feature_dim",
        str(DIM),
        "--model.warmup_steps",
        "1",
        "--model.num_beams",
        "2",
        "--model.max_new_tokens",
        "8",
        "--data.batch_size",
        "2",
        "--data.num_workers",
        "0",
    ]


def size_options(command: str, t5: Path) -> list[str]:
    """The options appended to one README command; a command the test does not know fails the test."""
    rules = [
        (r"signmusketeers captions ", []),
        (
            r"signmusketeers parse youtube_asl\.jsonl ",
            ["--crop-size", "56", "--face-crops", str(FACE_CROPS), "--hand-crops", str(HAND_CROPS), "--workers", "1"],
        ),
        (r"signmusketeers parse How2Sign/", ["--crop-size", "56", "--workers", "1"]),
        (r"signmusketeers fit --config configs/pretrain/(face|hand)\.yaml ", PRETRAIN),
        (r"signmusketeers export ", []),
        (r"signmusketeers extract ", ["--workers", "1"]),
        (r"signmusketeers (fit|test) --config configs/translate/", translate_sizes(t5)),
        (r"signmusketeers translate ", []),
    ]
    matches = [options for pattern, options in rules if re.match(pattern, command)]
    assert len(matches) == 1, f"README command without a size rule here: {command}"
    return matches[0]


def readme_recipe() -> list[str]:
    """The recipe block of README.md: one string per command (continuation lines joined, comments dropped)."""
    text = (REPO / "README.md").read_text()
    start = text.index("```bash\n", text.index(MARKER)) + len("```bash\n")
    block = text[start : text.index("```", start)]
    commands, pending = [], ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        commands.append(pending)
        pending = ""
    return commands


# ------------------------------------------------------------------------------------------------- fixtures


def youtube_folder(root: Path, clips: Path, frames) -> None:
    """As yt-dlp leaves a download: ID.mp4 / ID.mkv beside ID.en.vtt, ID.srt, ID.en.json3."""
    folder = root / "youtube_asl"
    folder.mkdir()
    (folder / "Ab-c_D12345.mp4").symlink_to(clips / "signer_blue_screen.mp4")
    (folder / "xyz_98765.mp4").symlink_to(clips / "signer_and_tv_speaker.mp4")
    encode(folder / "QwErTy0000.mkv", frames[130:], 50)  # 2 s at 25 fps
    first, second = YT_CUES["Ab-c_D12345"]
    (folder / "Ab-c_D12345.en.vtt").write_text(
        f"WEBVTT\nKind: captions\nLanguage: en\n\n00:00:00.500 --> 00:00:01.200 align:start position:0%\n{first}\n\n"
        f"00:00:01.300 --> 00:00:02.000\n{second}\n"
    )
    first, second = YT_CUES["xyz_98765"]
    (folder / "xyz_98765.srt").write_text(
        f"1\n00:00:01,000 --> 00:00:01,700\n{first}\n\n2\n00:00:02,000 --> 00:00:02,700\n<i>{second}</i>\n"
    )
    first, second = YT_CUES["QwErTy0000"]
    (folder / "QwErTy0000.en.json3").write_text(
        json.dumps(
            {
                "wireMagic": "pb3",
                "events": [
                    {"tStartMs": 0, "dDurationMs": 2000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
                    {"tStartMs": 200, "dDurationMs": 700, "wWinId": 1, "segs": [{"utf8": first}]},
                    {"tStartMs": 1000, "dDurationMs": 700, "wWinId": 1, "segs": [{"utf8": second}]},
                ],
            }
        )
    )


def how2sign_folder(root: Path, frames) -> None:
    """``How2Sign/`` as download_how2sign.sh lays out the full videos and the re-aligned translations."""
    header = "VIDEO_ID\tVIDEO_NAME\tSENTENCE_ID\tSENTENCE_NAME\tSTART_REALIGNED\tEND_REALIGNED\tSENTENCE\n"
    for number, (split, sentences) in enumerate(H2S_ROWS.items()):
        videos = root / "How2Sign" / "video_level" / split / "rgb_front" / "raw_videos"
        videos.mkdir(parents=True)
        video = f"{split}vid{number}"
        encode(videos / f"{video}-1-rgb_front.mp4", frames[40 * number :], 25 * len(sentences), gop=50)
        text = root / "How2Sign" / "sentence_level" / split / "text" / "en" / "raw_text" / "re_aligned"
        text.mkdir(parents=True)
        rows = [
            f"{video}\t{video}-1-rgb_front\t{video}_{i}\t{video}_{i}-1-rgb_front\t"  # one second per sentence
            f"{i + 0.1:.2f}\t{i + 0.8:.2f}\t{sentence}\n"
            for i, sentence in enumerate(sentences)
        ]
        (text / f"how2sign_realigned_{split}.csv").write_text(header + "".join(rows))


def t5_folder(folder: Path, sentences: list[str]) -> Path:
    """A tiny T5.1.1 (gated-GELU, untied) in google/t5-v1_1-base's file layout, its SentencePiece model trained on
    the fixture's sentences (no tokenizer.json: the release has none)."""
    import io

    import sentencepiece
    from transformers import T5Config, T5ForConditionalGeneration

    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 4),
        model_writer=buffer,
        vocab_size=80,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        num_threads=1,
        minloglevel=2,
    )
    folder.mkdir(parents=True)
    (folder / "spiece.model").write_bytes(buffer.getvalue())
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spiece.model")).get_piece_size()
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=pieces + 4,
        d_model=64,
        d_ff=128,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=32,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    sentinels = [f"<extra_id_{i}>" for i in range(4)]
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 4, "additional_special_tokens": sentinels})
    )
    return folder


@pytest.fixture(scope="module")
def workdir(shared_clips: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    frames = clip_frames(shared_clips, 320, 240)
    (root / "configs").symlink_to(REPO / "configs")
    youtube_folder(root, shared_clips, frames)
    how2sign_folder(root, frames)
    encode(root / "clip.mp4", frames[200:], 30)
    checkpoints = root / "torch" / "hub" / "checkpoints"  # torch.hub.get_dir() under TORCH_HOME
    checkpoints.mkdir(parents=True)
    torch.save(official_checkpoint(seed=5), checkpoints / "dinov2_vits14_reg4_pretrain.pth")
    sentences = [s for cues in YT_CUES.values() for s in cues] + [s for rows in H2S_ROWS.values() for s in rows]
    t5_folder(root / "t5-v1_1-tiny", sentences)
    return root


# ------------------------------------------------------------------------------------------------- the run


def test_the_readme_recipe_runs_as_written(workdir: Path, capsys) -> None:
    t5 = workdir / "t5-v1_1-tiny"
    commands = readme_recipe()
    assert [c.split()[1] for c in commands if c.startswith("signmusketeers ")] == [
        "captions",
        "parse",
        "parse",
        "fit",
        "fit",
        "export",
        "export",
        "extract",
        "extract",
        "fit",
        "fit",
        "test",
        "translate",
    ]
    script = ["set -euo pipefail"]
    for number, command in enumerate(commands):
        if re.match(r"\w+=", command):  # a shell variable of the recipe
            script.append(command)
            continue
        script.append(f'echo "### {number} $(date +%s.%N)" {shlex.quote(" ".join(command.split()[:4]))}')
        script.append(f"{command} {shlex.join(size_options(command, t5))}")
    script.append('echo "### end $(date +%s.%N)"')
    (workdir / "recipe.sh").write_text("\n".join(script) + "\n")

    bin_dir = workdir / "bin"  # the console script, running this checkout's package with this interpreter
    bin_dir.mkdir()
    (bin_dir / "signmusketeers").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m signmusketeers "$@"\n')
    (bin_dir / "signmusketeers").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "TORCH_HOME": str(workdir / "torch"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    started = time.monotonic()
    run = subprocess.run(["bash", "recipe.sh"], cwd=workdir, env=env, capture_output=True, text=True, timeout=1800)
    log = run.stdout + run.stderr
    (workdir / "recipe.log").write_text(log)
    assert run.returncode == 0, f"the recipe failed (log: {workdir / 'recipe.log'}):\n{log[-6000:]}"
    marks = [line.split(" ", 3) for line in run.stdout.splitlines() if line.startswith("### ")]
    with capsys.disabled():
        print(f"\nREADME recipe: {time.monotonic() - started:.0f} s")
        for (_, _, at, name), (_, _, after, *_) in zip(marks, marks[1:]):
            print(f"  {float(after) - float(at):6.1f} s  {name}")

    # 1. captions → one clip per cue; the crop sample drew its budgets over the whole corpus
    rows = [json.loads(line) for line in (workdir / "youtube_asl.jsonl").read_text().splitlines()]
    assert sorted(r["text"] for r in rows) == sorted(s for cues in YT_CUES.values() for s in cues)
    assert {r["split"] for r in rows} == {"train"}
    yt_clips = list(open_dataset(workdir / "clips/yt", "clips"))
    assert len(yt_clips) == 6 and all(len(r["frames"]) >= 3 for r in yt_clips)
    crops = list(open_dataset(workdir / "crops/yt", "crops"))
    sample = json.loads((workdir / "crops/yt/manifest.json").read_text())["made_by"]["sample"]
    faces, hands = sum(r["part"] == "face" for r in crops), sum(r["part"] == "hand" for r in crops)
    assert (faces, hands) == (sample["face_crops"], sample["hand_crops"])
    assert faces + sample["short"]["face"] == FACE_CROPS and hands + sample["short"]["hand"] == HAND_CROPS
    assert faces >= FACE_CROPS - 2 and hands >= HAND_CROPS // 2 and sample["clips_not_written"] == 0
    # 2. How2Sign: every row of every split, cut from the full videos
    h2s = list(open_dataset(workdir / "clips/h2s", "clips"))
    assert sorted((r["split"], r["text"]) for r in h2s) == sorted(
        (split, s) for split, sentences in H2S_ROWS.items() for s in sentences
    )

    # 3. the encoders started from the hub cache's DINOv2 file: two steps of EMA keep the teacher beside it
    from safetensors.torch import load_file

    official = official_checkpoint(seed=5)
    for part in ("face", "hand"):
        assert (workdir / f"runs/pretrain_{part}/lightning_logs/version_0/checkpoints/last.ckpt").is_file()
        encoder = load_file(workdir / f"encoders/{part}.safetensors")
        assert json.loads((workdir / f"encoders/{part}.json").read_text())["embed_dim"] == DIM
        for key in ("blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.weight", "patch_embed.proj.weight"):
            assert torch.allclose(encoder[key], official[key], atol=0.05), key  # random init: std 0.02, not N(0, 1)

    # 4. feature folders of both corpora, every clip
    counts = {
        name: json.loads((workdir / "features" / name / "manifest.json").read_text())["records"]
        for name in ("yt/train", "h2s/train", "h2s/val", "h2s/test")
    }
    assert counts == {"yt/train": 6, "h2s/train": 4, "h2s/val": 2, "h2s/test": 2}

    # 5. best.ckpt of each translation run is the validated file that scored best
    for run_dir in ("runs/yt", "runs/yt_to_h2s"):
        link = workdir / run_dir / "best.ckpt"
        best = link.resolve()
        step, bleu = re.fullmatch(r"step(\d+)-bleu([\d.]+)\.ckpt", best.name).groups()
        state = torch.load(link, map_location="cpu", weights_only=True)
        assert state["global_step"] == int(step) and int(step) in (2, 4)
        (callback,) = [v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint")]
        assert (workdir / callback["best_model_path"]).resolve() == best  # relative to where the run started
        assert f"{float(callback['best_model_score']):.2f}" == bleu
        assert state["face_privacy"] is True  # parse masks faces by default; carried to the checkpoint
    assert "in eval mode at the start of training" not in log  # the T5 folder's dropout acts during fit
    hypotheses = next((workdir / "runs/yt_to_h2s").rglob("hypotheses-test.jsonl"))
    tested = [json.loads(line) for line in hypotheses.read_text().splitlines()]
    assert sorted(r["reference"] for r in tested) == sorted(H2S_ROWS["test"])
    assert "test: 2 clips, BLEU-1" in log and "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp" in log
    (line,) = [json.loads(text) for text in run.stdout.splitlines() if text.startswith("{")]
    assert line["video"] == "clip.mp4" and isinstance(line["text"], str) and set(line["seconds"]) >= {"parse"}
