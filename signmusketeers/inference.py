"""Video → English in one process: parse → encode → generate (``signmusketeers translate``; paper Fig. 1).

``Translator(checkpoint)`` rebuilds everything from one TranslationModule checkpoint: the T5 and fusion weights,
the tokenizer and stream choice, and the frozen face/hand encoders stored in it at training time (or given
explicitly). Each video is parsed by :class:`signmusketeers.parsing.FrameParser` (MediaPipe Holistic, every second
frame as in training), its crops are encoded with the frozen encoders, and the translation is decoded with beam
search. Parsing and encoding stream: a few frames' crops at a time, keeping only the features, so memory stays flat
for videos of any length. A long video can be split into sentence-sized segments, each translated on its own and
written as SRT/WebVTT subtitles (:mod:`signmusketeers.subtitles`). Nothing is written to disk but the subtitles
asked for. Faces are masked (paper §3.2) when the checkpoint says its features were made from masked faces, as
``parse`` masks them by default; asking for the other kind is refused in one line.

    from signmusketeers.inference import Translator
    result = Translator("best.ckpt").translate("clip.mp4")
    result["text"], result["seconds"]  # {"parse": s, "encode": s, "generate": s}
    long = Translator("best.ckpt").translate("talk.mp4", segments=SegmentOptions())
    long["segments"]  # [{"first", "last", "start", "end", "method", "text"}, ...]
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from signmusketeers.constants import PAPER_STRIDE
from signmusketeers.encoded_video import EncodedVideo, FeatureBuffer, estimated_frames, probe_fps
from signmusketeers.formats.encoder_file import EncoderError, EncoderSpec
from signmusketeers.pretrain.encoder import CropEncoder, encoder_from_state, load_encoder
from signmusketeers.subtitles import SegmentOptions
from signmusketeers.translate.encoders import crop_features
from signmusketeers.translate.module import TranslationModule

BATCH_FRAMES = 32  # frames parsed and encoded at a time: their crops are all a translation holds (~14 MB at 224 px)


class Translator:
    """Translate videos with a trained checkpoint (see module doc).

    Args:
        checkpoint: a TranslationModule checkpoint (``fit`` writes them).
        device: torch device (default: cuda if available, else cpu).
        parser: a ``FrameParser``-like object with ``parse_video(path, **options) -> ParsedClip``; default
            ``FrameParser(crop_size=crop_size, stride=stride)``.
        face_encoder / hand_encoder: encoder exports to use instead of those stored in the checkpoint.
        stride: keep every ``stride``-th frame (2, as the features were extracted for training).
        crop_size: crop side for the default parser; default the encoders' input size.
        face_privacy: mask faces or not; default what the checkpoint records (unmasked for checkpoints that record
            nothing). Disagreeing with the checkpoint, or a ``parser`` that disagrees, raises
            :class:`~signmusketeers.parsing.privacy.FacePrivacyError`.
        batch_frames: frames parsed and encoded at a time (memory holds only their crops, plus the features).
        landmarks_model: a MediaPipe Tasks ``HolisticLandmarker`` ``.task`` file for the default parser, instead of
            the Holistic models bundled with mediapipe 0.10.21 (needed where only mediapipe >= 1.2 installs).
        verbose: let the default parser's MediaPipe and TF-Lite log lines through (hidden by default).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | torch.device | None = None,
        parser: Any | None = None,
        face_encoder: str | os.PathLike | None = None,
        hand_encoder: str | os.PathLike | None = None,
        stride: int = PAPER_STRIDE,
        crop_size: int | None = None,
        face_privacy: bool | None = None,
        batch_frames: int = BATCH_FRAMES,
        landmarks_model: str | os.PathLike | None = None,
        verbose: bool = False,
    ) -> None:
        if batch_frames < 1:
            raise ValueError(f"batch_frames must be at least 1, got {batch_frames}")
        self.batch_frames = batch_frames
        self.stride = stride
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.module = TranslationModule.from_checkpoint(checkpoint).to(self.device)
        if "global" in self.module.streams:
            raise ValueError(f"{checkpoint}: the whole-frame 'global' stream is not supported by translate")
        stored = self.module.encoder_payload()
        self.encoders: dict[str, CropEncoder] = {}
        for part, explicit in (("face", face_encoder), ("hand", hand_encoder)):
            if explicit is not None:
                self.encoders[part] = load_encoder(explicit, self.device)
            elif part in stored:
                spec = EncoderSpec.from_json(stored[part]["spec"], f"{checkpoint} ({part} encoder)")
                self.encoders[part] = encoder_from_state(spec, stored[part]["state_dict"], str(checkpoint), self.device)
            else:
                raise EncoderError(f"{checkpoint}: holds no {part} encoder; give --{part}-encoder ENCODER.safetensors")
        from signmusketeers.parsing.privacy import FacePrivacyError, describe

        trained = self.module.face_privacy
        if parser is not None and face_privacy is None and hasattr(parser, "face_privacy"):
            face_privacy = bool(parser.face_privacy)
        if face_privacy is not None and trained is not None and bool(face_privacy) != trained:
            raise FacePrivacyError(
                f"{checkpoint}: trained on {describe(trained)}, asked to translate "
                f"{describe(bool(face_privacy))}; the model sees faces as it was trained"
            )
        self.face_privacy = bool(trained if trained is not None else face_privacy)
        if parser is None:
            from signmusketeers.parsing import FrameParser

            # Crops at the encoders' own input size (224 for ViT-S/14), as clip shards made for them hold.
            size = crop_size or max(encoder.spec.img_size for encoder in self.encoders.values())
            source = None
            if landmarks_model is not None:
                from signmusketeers.parsing import MediaPipeTasksHolistic

                source = MediaPipeTasksHolistic(landmarks_model, verbose=verbose)
            parser = FrameParser(
                crop_size=size, stride=stride, landmark_source=source, face_privacy=self.face_privacy, verbose=verbose
            )
        self.parser = parser

    def encode_crops(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """``uint8 (N, 3, S, S, 3)`` crops → ``{"face", "left", "right"}`` features ``float16 (N, D)`` on the CPU."""
        return crop_features(crops, self.encoders["face"], self.encoders["hand"])

    def features(self, crops: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """A one-clip batch from crops ``uint8 (T, 3, S, S, 3)`` and pose ``(T, 14)``."""
        return self._batch(self.encode_crops(crops), pose)

    def _batch(self, streams: dict[str, torch.Tensor], pose: torch.Tensor) -> dict[str, torch.Tensor]:
        frames = pose.shape[0]
        batch = {name: value.float().to(self.device)[None] for name, value in streams.items()}
        batch["pose"] = pose.float().to(self.device)[None]
        batch["attention_mask"] = torch.ones(1, frames, dtype=torch.long, device=self.device)
        return batch

    def encode(
        self, video: str | os.PathLike, *, on_frames: Callable[[int], None] | None = None, **options: Any
    ) -> EncodedVideo:
        """Parse and encode ``video`` in batches of :attr:`batch_frames` frames, keeping only the features.

        Memory stays flat in the video's length: a few frames' crops at a time, then ``3 × T × D`` float16
        features and ``T × 14`` pose (about 2.3 KB per kept frame at D = 384, instead of 450 KB of 224-px crops).
        ``options`` (clip_id, landmarks, start, end, fps) go to the parser; ``on_frames(n)`` is called after each batch
        of ``n`` frames (a progress bar). A parser without ``iter_frames`` (only ``parse_video``) is parsed whole.
        """
        seconds = {"parse": 0.0, "encode": 0.0}
        # One growing buffer per stream, sized from the container's frame count: features kept batch by batch as
        # small tensors would pin the heap between the crops' large temporaries, and glibc's heap then grows by
        # ~80 KB per frame (measured) though nothing is held.
        expected = (
            estimated_frames(video, self.stride, options.get("start"), options.get("end"), options.get("fps")) or 1024
        )
        buffers = {name: FeatureBuffer(expected) for name in ("face", "left", "right", "pose")}

        def add(crops: np.ndarray, pose: np.ndarray) -> None:
            begin = time.perf_counter()
            # Face privacy, where a checkpoint asks for it, belongs to the parser's crops: they reach this point
            # already masked, the same crops training saw.
            for name, value in self.encode_crops(torch.from_numpy(crops)).items():
                buffers[name].append(value)
            buffers["pose"].append(torch.from_numpy(np.asarray(pose, dtype=np.float32)))
            seconds["encode"] += time.perf_counter() - begin
            if on_frames is not None:
                on_frames(len(crops))

        parse = self._parse_in_batches if hasattr(self.parser, "iter_frames") else self._parse_whole
        times, found, fps = parse(video, options, add, seconds)
        return EncodedVideo(
            streams={name: buffers[name].values() for name in ("face", "left", "right")},
            pose=buffers["pose"].values(),
            times=np.asarray(times, dtype=np.float64),
            pose_found=np.asarray(found, dtype=bool),
            frame_duration=self.stride / fps if fps else float(np.median(np.diff(times))) if len(times) > 1 else 0.0,
            seconds=seconds,
        )

    def _parse_in_batches(
        self,
        video: str | os.PathLike,
        options: dict[str, Any],
        add: Callable[[np.ndarray, np.ndarray], None],
        seconds: dict[str, float],
    ) -> tuple[list[float], list[bool], float]:
        """Parse with ``iter_frames``, handing every :attr:`batch_frames` frames to ``add``; (times, found, fps)."""
        times, found = [], []
        begin = time.perf_counter()
        fps = probe_fps(video, options.get("fps"))
        batch: list = []
        for frame in self.parser.iter_frames(video, **{k: v for k, v in options.items() if k != "clip_id"}):
            batch.append(frame)
            times.append(frame.time)
            found.append(frame.pose_found)
            if len(batch) == self.batch_frames:
                seconds["parse"] += time.perf_counter() - begin
                add(np.stack([f.crops for f in batch]), np.stack([f.pose for f in batch]))
                batch, begin = [], time.perf_counter()
        seconds["parse"] += time.perf_counter() - begin
        if batch:
            add(np.stack([f.crops for f in batch]), np.stack([f.pose for f in batch]))
        return times, found, fps  # iter_frames itself refuses a clip with too few frames or nobody in it

    def _parse_whole(
        self,
        video: str | os.PathLike,
        options: dict[str, Any],
        add: Callable[[np.ndarray, np.ndarray], None],
        seconds: dict[str, float],
    ) -> tuple[list[float], list[bool], float]:
        """Parse with ``parse_video`` (no ``iter_frames``), then encode in batches; (times, found, fps)."""
        begin = time.perf_counter()
        clip = self.parser.parse_video(video, **options)
        seconds["parse"] += time.perf_counter() - begin
        frames = clip.crops.shape[0]
        fps = float(getattr(clip, "fps", 0.0) or 0.0)
        times = list(getattr(clip, "timestamps", np.arange(frames) * self.stride / (fps or 1.0)))
        found = list(
            getattr(clip, "landmarks", None).present["pose"]
            if getattr(clip, "landmarks", None) is not None
            else np.ones(frames, dtype=bool)
        )
        for first in range(0, frames, self.batch_frames):
            add(clip.crops[first : first + self.batch_frames], clip.pose[first : first + self.batch_frames])
        return times, found, fps

    def generate(self, encoded: EncodedVideo, first: int = 0, last: int | None = None) -> str:
        """The translation of kept frames ``[first, last)`` of an encoded video."""
        last = len(encoded) if last is None else last
        streams = {name: value[first:last] for name, value in encoded.streams.items()}
        return self.module.generate(self._batch(streams, encoded.pose[first:last]))[0]

    def translate(
        self,
        video: str | os.PathLike,
        *,
        clip_id: str | None = None,
        landmarks: str | os.PathLike | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
        segments: SegmentOptions | None = None,
        on_frames: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """``{"video", "text", "frames", "seconds": {"parse", "encode", "generate"}}`` for one video.

        ``landmarks`` (a precomputed landmark file, e.g. SynthSign's), ``start``/``end`` (seconds) and ``clip_id``
        are passed to the parser as a manifest row would give them; ``fps`` is the frame rate of a folder of frames.
        With ``segments`` (a long video), the video is split into sentence-sized segments
        (:mod:`signmusketeers.subtitles`), each translated on its own; the result then also has
        ``"segments": [{"first", "last", "start", "end", "method", "text"}]`` (times in seconds of the video) and
        ``"text"`` joins their texts. ``on_frames(n)``: progress, as for :meth:`encode`.
        """
        options = {
            key: value
            for key, value in (
                ("clip_id", clip_id),
                ("landmarks", landmarks),
                ("start", start),
                ("end", end),
                ("fps", fps),
            )
            if value is not None
        }
        encoded = self.encode(video, on_frames=on_frames, **options)
        seconds = dict(encoded.seconds)
        begin = time.perf_counter()
        result: dict[str, Any] = {"video": str(video)}
        if segments is None:
            result["text"] = self.generate(encoded)
        else:
            from signmusketeers.subtitles import segment_frames

            parts = segment_frames(
                encoded.pose.numpy(), encoded.times, encoded.pose_found, encoded.frame_duration, segments
            )
            parts = [replace(part, text=self.generate(encoded, part.first, part.last)) for part in parts]
            result["text"] = " ".join(part.text for part in parts if part.text)
            result["segments"] = [part.to_json() for part in parts]
        seconds["generate"] = time.perf_counter() - begin
        result["frames"] = len(encoded)
        result["seconds"] = {k: round(v, 4) for k, v in seconds.items()}
        return result


@dataclass
class TranslateReport:
    """What :func:`translate_clips` did: each translated clip's result (as ``--output`` has them), clips failed."""

    results: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0


def translate_clips(
    translator: Translator,
    clips: list[Any],
    *,
    segments: SegmentOptions | None = None,
    subtitles: tuple[Path, ...] = (),
    output: Path | None = None,
    on_result: Callable[[Any, dict[str, Any]], None] | None = None,
    say: Callable[[str], None] = print,
    progress: Callable[[str, int | None], Any] | None = None,
) -> TranslateReport:
    """Translate input clips (:class:`~signmusketeers.data.manifests.InputClip`) one by one with ``translator``.

    A clip from a manifest gets its ``clip_id`` and ``reference`` into the result. Each result is appended to
    ``output`` (JSON lines) and handed to ``on_result(clip, result)``; with ``segments``, a clip's segments are
    written as subtitles to each of ``subtitles`` (``.srt``/``.vtt``). ``say(line)`` hears failed clips (the others
    go on) and subtitles written; ``progress(video, frames)``: a context manager yielding ``advance(n)``, or None."""
    report = TranslateReport()
    handle = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = open(output, "w")
    try:
        for clip in clips:
            if clip.problem:  # e.g. a manifest row whose video is missing
                say(f"{clip.video}: {clip.problem}")
                report.failed += 1
                continue
            try:
                result = _translate_clip(translator, clip, segments, subtitles, say, progress)
            except (ValueError, OSError) as error:  # ParseError is a ValueError naming the file
                message = str(error)
                say(message if clip.video in message else f"{clip.video}: {message}")
                report.failed += 1
                continue
            report.results.append(result)
            if handle is not None:
                handle.write(json.dumps(result) + "\n")
                handle.flush()
            if on_result is not None:
                on_result(clip, result)
    finally:
        if handle is not None:
            handle.close()
    return report


def _translate_clip(
    translator: Translator,
    clip: Any,
    segments: SegmentOptions | None,
    subtitles: tuple[Path, ...],
    say: Callable[[str], None],
    progress: Callable[[str, int | None], Any] | None,
) -> dict[str, Any]:
    options = {"fps": clip.fps} if clip.fps else {}  # folders of frames only
    expected = estimated_frames(clip.video, translator.stride, clip.start, clip.end, clip.fps)
    with progress(clip.video, expected) if progress is not None else contextlib.nullcontext(None) as advance:
        result = translator.translate(
            clip.video,
            clip_id=clip.clip_id,
            landmarks=clip.landmarks,
            start=clip.start,
            end=clip.end,
            segments=segments,
            on_frames=advance,
            **options,
        )
    if "segments" in result and subtitles:
        from signmusketeers.subtitles import Segment, cue_text, write_subtitles

        parts = [Segment(**part) for part in result["segments"]]
        cues = sum(1 for part in parts if cue_text(part.text))  # a segment translated to nothing has none
        for target in subtitles:
            write_subtitles(target, parts)
            say(f"{target}: {cues} subtitles of {len(parts)} segments")
    if clip.text or clip.landmarks or clip.start is not None:  # the clip came from a manifest
        result = {"clip_id": clip.clip_id, **result, "reference": clip.text}
    return result
