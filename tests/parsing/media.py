"""Small videos written on the fly with PyAV for the parsing tests (nothing is stored in the repository)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

SHARED_CLIPS = (Path(__file__).resolve().parents[2] / "../shared/data/clips").resolve()

CODECS = {  # suffix -> (codec, pixel format)
    ".mp4": ("libx264", "yuv420p"),
    ".webm": ("libvpx", "yuv420p"),
    ".mov": ("mpeg4", "yuv420p"),
    ".gif": ("gif", "rgb8"),
    ".mkv": ("ffv1", "yuv444p"),
}


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int = 10,
    times: list[float] | None = None,
    pix_fmt: str | None = None,
) -> Path:
    """Encode RGB (or, with ``pix_fmt="gray"``, single-channel) frames; ``times`` in seconds gives variable timing."""
    import av

    codec, default_format = CODECS[path.suffix]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt or default_format
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for number, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="gray" if image.ndim == 2 else "rgb24")
            if times is not None:
                frame.pts = int(round(times[number] * 1000))
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def portrait(width: int | None = None, height: int | None = None) -> np.ndarray:
    """A real person (matplotlib's Grace Hopper sample photo: face and shoulders, no hands), RGB uint8."""
    import cv2
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        data = np.frombuffer(handle.read(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    if width and height:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def noise_frames(count: int, width: int = 96, height: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(count)]
