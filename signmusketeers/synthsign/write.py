"""Writing a SynthSign set: bit-exact videos and landmark files, the manifest, the settings and a preview sheet.

Everything is deterministic per seed: the same ``synth --out DIR --clips N --seed S`` writes byte-identical files
(each clip has its own random stream, :func:`clip_seed`, so clip i is the same whatever the number of clips or
worker processes).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from signmusketeers.synthsign.render import RenderedClip, SynthSignConfig, render_clip
from signmusketeers.synthsign.vocabulary import (
    EXPRESSIONS,
    HANDSHAPES,
    LOCATIONS,
    MOVEMENTS,
    VOCABULARY,
    assign_splits,
    sample_sentence,
)


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write RGB frames as H.264 in mp4, bit-exact (no timestamps or encoder strings that vary between runs)."""
    from fractions import Fraction

    import av

    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"crf": "20", "preset": "ultrafast", "threads": "1", "flags": "+bitexact"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so the file is byte-identical for equal arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def clip_seed(seed: int, index: int) -> np.random.Generator:
    """Each clip has its own random stream, so clip i is the same whatever the number of clips."""
    digest = hashlib.sha256(f"synthsign:{seed}:{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def generate(
    out: str | Path,
    clips: int,
    seed: int = 0,
    config: SynthSignConfig | None = None,
    preview: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Render ``clips`` SynthSign clips into ``out``; returns the path of ``manifest.jsonl``.

    ``out`` receives ``videos/*.mp4``, ``landmarks/*.npz``, ``manifest.jsonl`` (one JSON object per clip:
    clip_id, video, landmarks, start, end, text, split, fps, frames, width, height; paths relative to ``out``),
    ``synthsign.json`` (label names and generation settings) and, with ``preview``, ``preview.png``.
    ``config``: the rendering settings (default :class:`SynthSignConfig`). ``workers`` > 1 renders clips in that
    many processes; the files are the same either way.
    """
    out, config = Path(out), config or SynthSignConfig()
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "landmarks").mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, index, split, config) for index, split in enumerate(assign_splits(clips))]
    rows = []
    if workers > 1 and clips > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for row in pool.imap(_write_clip, jobs):
                rows.append(row)
                if progress is not None:
                    progress(len(rows))
    else:
        for job in jobs:
            rows.append(_write_clip(job))
            if progress is not None:
                progress(len(rows))
    (out / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    info = {
        "seed": seed,
        "clips": clips,
        "config": asdict(config),
        "handshapes": HANDSHAPES,
        "expressions": EXPRESSIONS,
        "locations": LOCATIONS,
        "movements": MOVEMENTS,
        "vocabulary": {word: asdict(sign) for word, sign in VOCABULARY.items()},
    }
    (out / "synthsign.json").write_text(json.dumps(info, indent=2) + "\n")
    if preview:
        previews = []
        for job in jobs[:3]:  # re-rendered (cheap) rather than kept in memory for the whole set
            rng = clip_seed(seed, job[2])
            sentence = sample_sentence(rng, job[3])
            previews.append((render_clip(sentence, rng, config), sentence.text))
        save_preview(out / "preview.png", previews)
    return out / "manifest.jsonl"


def _write_clip(job: tuple[Path, int, int, str, SynthSignConfig]) -> dict:
    """Render and write clip ``index``; returns its manifest row."""
    out, seed, index, split, config = job
    rng = clip_seed(seed, index)
    sentence = sample_sentence(rng, split)
    clip = render_clip(sentence, rng, config)
    clip_id = f"synthsign-{seed}-{index:05d}"
    write_video(out / "videos" / f"{clip_id}.mp4", clip.frames, config.fps)
    write_npz(out / "landmarks" / f"{clip_id}.npz", clip.landmarks)
    return {
        "clip_id": clip_id,
        "video": f"videos/{clip_id}.mp4",
        "landmarks": f"landmarks/{clip_id}.npz",
        "start": None,
        "end": None,
        "text": sentence.text,
        "split": split,
        "fps": config.fps,
        "frames": len(clip.frames),
        "width": config.width,
        "height": config.height,
        "signs": sentence.signs,
    }


def draw_landmarks(frame: np.ndarray, landmarks: dict[str, np.ndarray], index: int) -> np.ndarray:
    """A copy of ``frame`` with the landmarks of frame ``index`` drawn on it (pose green, face white, hands)."""
    image = frame.copy()
    colours = {"face": (255, 255, 255), "left_hand": (255, 80, 80), "right_hand": (80, 160, 255)}
    for part, colour in colours.items():
        if landmarks[f"present_{part}"][index]:
            for x, y in landmarks[part][index]:
                cv2.circle(image, (int(x), int(y)), 1, colour, -1)
    for x, y, visibility in landmarks["pose"][index][:23]:
        if visibility > 0.5:
            cv2.circle(image, (int(x), int(y)), 2, (60, 230, 60), -1)
    return image


def save_preview(path: Path, clips: Sequence[tuple[RenderedClip, str]], per_clip: int = 5) -> None:
    """Contact sheet: a row of frames per clip, every second one with its landmarks drawn, captioned."""
    rows = []
    for clip, text in clips:
        picks = np.linspace(0, len(clip.frames) - 1, per_clip + 2)[1:-1].round().astype(int)
        tiles = []
        for k, i in enumerate(picks):
            tile = draw_landmarks(clip.frames[i], clip.landmarks, i) if k % 2 else clip.frames[i].copy()
            cv2.putText(tile, f"frame {i}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        row = np.concatenate(tiles, axis=1)
        caption = np.full((22, row.shape[1], 3), 20, dtype=np.uint8)
        cv2.putText(caption, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
        rows.append(np.concatenate([caption, row], axis=0))
    sheet = np.concatenate(rows, axis=0) if rows else np.zeros((10, 10, 3), np.uint8)
    cv2.imwrite(str(path), sheet[..., ::-1])
