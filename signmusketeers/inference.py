"""Video → English in one process: parse → encode → generate (``signmusketeers translate``; paper Fig. 1).

``Translator(checkpoint)`` rebuilds everything from one TranslationModule checkpoint: the T5 and fusion weights,
the tokenizer and stream choice, and the frozen face/hand encoders stored in it at training time (or given
explicitly). Each video is parsed by :class:`signmusketeers.parsing.FrameParser` (MediaPipe Holistic, every second
frame as in training), its crops are encoded with the frozen encoders, and the translation is decoded with beam
search. Nothing is written to disk.

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
        parser: a ``FrameParser``-like object with ``parse_video(path) -> ParsedClip``; default
            ``FrameParser(crop_size=224, stride=2)``.
        face_encoder / hand_encoder: encoder exports to use instead of those stored in the checkpoint.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | torch.device | None = None,
        parser: Any | None = None,
        face_encoder: str | os.PathLike | None = None,
        hand_encoder: str | os.PathLike | None = None,
        stride: int = PAPER_STRIDE,
        crop_size: int = 224,
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
        if parser is None:
            from signmusketeers.parsing import FrameParser

            parser = FrameParser(crop_size=crop_size, stride=stride)
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

    def translate(self, video: str | os.PathLike) -> dict[str, Any]:
        """``{"video", "text", "seconds": {"parse", "encode", "generate"}}`` for one video."""
        seconds = {}
        start = time.perf_counter()
        clip = self.parser.parse_video(video)
        seconds["parse"] = time.perf_counter() - start

        start = time.perf_counter()
        batch = self.features(torch.from_numpy(clip.crops), torch.from_numpy(clip.pose))
        seconds["encode"] = time.perf_counter() - start

        start = time.perf_counter()
        text = self.module.generate(batch)[0]
        seconds["generate"] = time.perf_counter() - start
        return {"video": str(video), "text": text, "frames": int(clip.crops.shape[0]),
                "seconds": {k: round(v, 4) for k, v in seconds.items()}}


def register(parser: argparse.ArgumentParser):
    parser.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="videos to translate")
    parser.add_argument("--checkpoint", required=True, type=Path, help="TranslationModule checkpoint")
    parser.add_argument("--json", action="store_true", help='one JSON line per video: {"video", "text", "seconds"}')
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="use every N-th frame (as in training: 2)")
    parser.add_argument("--face-encoder", type=Path, help="face encoder export, instead of the checkpoint's")
    parser.add_argument("--hand-encoder", type=Path, help="hand encoder export, instead of the checkpoint's")
    return run


def run(args: argparse.Namespace) -> int:
    def fail_line(text: str) -> None:
        print(f"signmusketeers translate: {text}", file=sys.stderr)

    try:
        translator = Translator(args.checkpoint, args.device, face_encoder=args.face_encoder,
                                hand_encoder=args.hand_encoder, stride=args.stride)
    except ValueError as error:  # EncoderError and bad checkpoints are ValueErrors with a one-line message
        fail_line(str(error))
        return 2
    failures = 0
    for video in args.videos:
        try:
            result = translator.translate(video)
        except (ValueError, OSError) as error:  # ParseError is a ValueError naming the file
            message = str(error)
            fail_line(message if str(video) in message else f"{video}: {message}")
            failures += 1
            continue
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            timing = ", ".join(f"{stage} {s:.2f}s" for stage, s in result["seconds"].items())
            print(f"{video}: {result['text']}", flush=True)
            print(f"  ({result['frames']} frames; {timing})", file=sys.stderr)
    return 1 if failures else 0
