"""Fixture videos shaped like real corpora, built on the fly with PyAV: a long full video with a real encoder's
keyframe interval (from the shared signing clips), videos stored sideways with a display rotation, and folders of
numbered frames (RWTH-PHOENIX-Weather 2014T's layout)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def clip_frames(clips: Path, width: int, height: int) -> list[np.ndarray]:
    """Every frame of the shared signing clips, resized to ``width`` x ``height`` (RGB uint8)."""
    import av

    frames = []
    for name in ("signer_blue_screen.mp4", "signer_and_tv_speaker.mp4"):
        with av.open(str(clips / name)) as container:
            frames += [f.to_ndarray(format="rgb24", width=width, height=height) for f in container.decode(video=0)]
    return frames


def encode(
    path: Path,
    frames: list[np.ndarray],
    count: int,
    fps: int = 25,
    gop: int = 50,
    bframes: int = 2,
    durations_ms: list[int] | None = None,
    rotation: int | None = None,
    mirror: bool = False,
    codec: str = "libx264",
) -> Path:
    """``count`` frames cycling through ``frames`` (H.264 by default, in the container ``path``'s suffix names): a
    keyframe every ``gop`` frames and B-frames as encoders make them; ``durations_ms`` cycles through per-frame
    durations (variable frame rate); ``rotation``/``mirror``: the display matrix (counter-clockwise degrees, then a
    horizontal mirror)."""
    import av

    options = {"g": str(gop)}
    if codec == "libx264":
        options.update(bf=str(bframes), preset="ultrafast" if not bframes else "veryfast")
    elif codec.startswith("libvpx"):
        options.update({"deadline": "realtime", "cpu-used": "8"})  # fast enough for tests
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation, hflip=mirror)
        pts = 0
        for number in range(count):
            frame = av.VideoFrame.from_ndarray(frames[number % len(frames)], format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += durations_ms[number % len(durations_ms)] if durations_ms else 1000 // fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_folder(folder: Path, frames: list[np.ndarray], suffix: str = ".png") -> Path:
    """``images0001.png``, ``images0002.png``, ... as the PHOENIX-2014T release stores a video."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for number, image in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"images{number:04d}{suffix}"), np.ascontiguousarray(image[..., ::-1]))
    return folder
