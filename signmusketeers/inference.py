"""Video → English in one process: parse → encode → generate (``signmusketeers translate``; paper Fig. 1).

``Translator(checkpoint)`` rebuilds everything from one TranslationModule checkpoint: the T5 and fusion weights,
the tokenizer and stream choice, and the frozen face/hand encoders stored in it at training time (or given
explicitly). Each video is parsed by :class:`signmusketeers.parsing.FrameParser` (MediaPipe Holistic, every second
frame as in training), its crops are encoded with the frozen encoders, and the translation is decoded with beam
search. Nothing is written to disk. Faces are masked (paper §3.2) when the checkpoint says its features were made
from masked faces, as ``parse`` masks them by default; asking for the other kind is refused in one line.

    from signmusketeers.inference import Translator
    result = Translator("best.ckpt").translate("clip.mp4")
    result["text"], result["seconds"]  # {"parse": s, "encode": s, "generate": s}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from signmusketeers.translate.encoders import CropEncoder, EncoderError, EncoderSpec, encoder_from_state, load_encoder
from signmusketeers.translate.module import TranslationModule

PAPER_STRIDE = 2  # §4: the translator sees every second frame


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
    ) -> None:
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
            raise FacePrivacyError(f"{checkpoint}: trained on {describe(trained)}, asked to translate "
                                   f"{describe(bool(face_privacy))}; the model sees faces as it was trained")
        self.face_privacy = bool(trained if trained is not None else face_privacy)
        if parser is None:
            from signmusketeers.parsing import FrameParser

            # Crops at the encoders' own input size (224 for ViT-S/14), as clip shards made for them hold.
            size = crop_size or max(encoder.spec.img_size for encoder in self.encoders.values())
            parser = FrameParser(crop_size=size, stride=stride, face_privacy=self.face_privacy)
        self.parser = parser

    def features(self, crops: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """A one-clip batch from crops ``uint8 (T, 3, S, S, 3)`` and pose ``(T, 14)``."""
        frames = crops.shape[0]
        hands = self.encoders["hand"](crops[:, 1:3].reshape(frames * 2, *crops.shape[2:])).reshape(frames, 2, -1)
        # Features are cached as float16 for training; round the same way so inference sees what training saw.
        streams = {"face": self.encoders["face"](crops[:, 0]), "left": hands[:, 0], "right": hands[:, 1]}
        batch = {name: value.half().float()[None] for name, value in streams.items()}
        batch["pose"] = pose.float().to(self.device)[None]
        batch["attention_mask"] = torch.ones(1, frames, dtype=torch.long, device=self.device)
        return batch

    def translate(
        self,
        video: str | os.PathLike,
        *,
        clip_id: str | None = None,
        landmarks: str | os.PathLike | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
    ) -> dict[str, Any]:
        """``{"video", "text", "frames", "seconds": {"parse", "encode", "generate"}}`` for one video.

        ``landmarks`` (a precomputed landmark file, e.g. SynthSign's), ``start``/``end`` (seconds) and ``clip_id``
        are passed to the parser as a manifest row would give them; ``fps`` is the frame rate of a folder of frames.
        """
        seconds = {}
        begin = time.perf_counter()
        options = {key: value for key, value in
                   (("clip_id", clip_id), ("landmarks", landmarks), ("start", start), ("end", end), ("fps", fps))
                   if value is not None}
        clip = self.parser.parse_video(video, **options)
        seconds["parse"] = time.perf_counter() - begin

        begin = time.perf_counter()
        batch = self.features(torch.from_numpy(clip.crops), torch.from_numpy(clip.pose))
        seconds["encode"] = time.perf_counter() - begin

        begin = time.perf_counter()
        text = self.module.generate(batch)[0]
        seconds["generate"] = time.perf_counter() - begin
        return {"video": str(video), "text": text, "frames": int(clip.crops.shape[0]),
                "seconds": {k: round(v, 4) for k, v in seconds.items()}}


def register(parser: argparse.ArgumentParser):
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="videos, folders of videos, or manifests (.jsonl/.csv as for parse; their text is printed "
                             "as the reference and their landmark files replace MediaPipe)")
    parser.add_argument("--checkpoint", required=True, type=Path, help="TranslationModule checkpoint")
    from signmusketeers.parsing.command import add_input_options

    add_input_options(parser)  # --videos, --how2sign-clips, --frame-rate: as for parse
    parser.add_argument("--json", action="store_true",
                        help='one JSON line per video: {"video", "text", "seconds"} (+ "clip_id", "reference" from a '
                             "manifest)")
    parser.add_argument("--output", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="use every N-th frame (as in training: 2)")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="crop side in pixels (default: the encoders' input size, 224 for ViT-S/14)")
    parser.add_argument("--face-privacy", action=argparse.BooleanOptionalAction, default=None,
                        help="mask faces (default: as the checkpoint records; a mismatch is refused)")
    parser.add_argument("--face-encoder", type=Path, help="face encoder export, instead of the checkpoint's")
    parser.add_argument("--hand-encoder", type=Path, help="hand encoder export, instead of the checkpoint's")
    return run


def run(args: argparse.Namespace) -> int:
    from signmusketeers.data.manifests import ManifestError
    from signmusketeers.parsing.command import read_input_options

    def fail_line(text: str) -> None:
        print(f"signmusketeers translate: {text}", file=sys.stderr)

    try:
        clips = read_input_options(args, "translate")
        translator = Translator(args.checkpoint, args.device, face_encoder=args.face_encoder,
                                hand_encoder=args.hand_encoder, stride=args.stride, crop_size=args.crop_size,
                                face_privacy=args.face_privacy)
    except (ManifestError, ValueError) as error:  # EncoderError and bad checkpoints are ValueErrors too
        fail_line(str(error))
        return 2
    output = None
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        output = open(args.output, "w")
    failures = 0
    try:
        for clip in clips:
            if clip.problem:  # e.g. a manifest row whose video is missing
                fail_line(f"{clip.video}: {clip.problem}")
                failures += 1
                continue
            try:
                options = {"fps": clip.fps} if clip.fps else {}  # folders of frames only
                result = translator.translate(clip.video, clip_id=clip.clip_id, landmarks=clip.landmarks,
                                              start=clip.start, end=clip.end, **options)
            except (ValueError, OSError) as error:  # ParseError is a ValueError naming the file
                message = str(error)
                fail_line(message if clip.video in message else f"{clip.video}: {message}")
                failures += 1
                continue
            if clip.text or clip.landmarks or clip.start is not None:  # the clip came from a manifest
                result = {"clip_id": clip.clip_id, **result, "reference": clip.text}
            line = json.dumps(result)
            if output is not None:
                output.write(line + "\n")
                output.flush()
            if args.json:
                print(line, flush=True)
            else:
                timing = ", ".join(f"{stage} {s:.2f}s" for stage, s in result["seconds"].items())
                print(f"{clip.video}: {result['text']}", flush=True)
                if result.get("reference"):
                    print(f"  reference: {result['reference']}", flush=True)
                print(f"  ({result['frames']} frames; {timing})", file=sys.stderr)
    finally:
        if output is not None:
            output.close()
    return 1 if failures else 0
