"""``signmusketeers parse INPUT... --out DIR [--crops-out DIR] [--stride 2] [--workers N] [--clip-records full|boxes]``.

Parses videos into clip shards (per clip: every ``stride``-th frame's three crops, the pose vectors, the box
provenance, the text; for translation; with ``--clip-records boxes`` the boxes and the source video's path instead
of the crops, which ``extract`` cuts again from the video) and optionally crop shards (sampled face and hand crops; for
pre-training: ``--crops-per-clip`` frames of every clip, or a seeded corpus-wide sample with separate face and hand
budgets, :mod:`signmusketeers.parsing.sample`), as resumable LitData shard folders (:class:`~signmusketeers.data.shards.ShardWriter`). Inputs that
cannot be parsed are reported one line each, logged in each output's ``failures.jsonl``, and make the exit code 1
after everything else is written.

Face crops are masked as in the paper's recipe (§3.2, :mod:`signmusketeers.parsing.privacy`) unless
``--no-face-privacy``; both folders' ``manifest.json`` record which (``made_by.face_privacy``), and boxes-only clip
records keep the eye and mouth landmarks with which ``extract`` masks its crops again.
"""

from __future__ import annotations

import argparse
import json
import concurrent.futures as futures
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.manifests import InputClip, ManifestError
from signmusketeers.commands.inputs import add_input_options, read_input_options
from ..data.shards import JPEG_QUALITY, LEDGER, ShardError, ShardManifest, ShardWriter, decode_jpeg, encode_jpeg, pack_jpegs
from .boxes import LANDMARKS, PART_NAMES, SHIFTED
from .landmarks import ClipLandmarks, FrameLandmarks, check_region
from .parser import FrameParser, ParsedClip, ParsedFrame, ParseError
from .privacy import FacePrivacyError, claim_face_privacy
from .sample import PlanError, load_or_make_plan, pick_crops
from .video import probe_video
from signmusketeers.constants import CROP_SIZE, PAPER_STRIDE

CLIP_RECORDS = ("full", "boxes")  # --clip-records: JPEG crops of every kept frame, or boxes + source video only


class EncodedClip:
    """A parsed clip kept as ``signmusketeers parse`` needs it: the crops as JPEG bytes, encoded as each frame of
    :meth:`~signmusketeers.parsing.FrameParser.stream_video` arrives, instead of raw ``uint8`` crops.

    Everything else is :class:`~signmusketeers.parsing.ParsedClip`'s (boxes, provenance, pose, ``frame_index``,
    ``timestamps``, ``found``, ``face_regions``, ``landmarks``), and :func:`clip_record` and :func:`crop_records`
    make byte-identical records from either. A 224-px frame's three crops take ~35 KB as JPEGs (quality 95, as in
    the shards) against ~450 KB raw, so memory still grows with the clip's length, ~13× slower.

    Args:
        clip_id: the clip's name; fps: the stream's frame rate (``probe_video``); crop_size: side of the crops.
        jpegs: which crops to encode: ``"all"`` (full clip records), ``"usable"`` (only those crop records may take:
            the part's own landmarks, possibly shifted into the frame) or ``"none"`` (boxes-only records alone).
        keep_landmarks: keep each frame's landmarks (``--poses-out``).
    """

    def __init__(self, clip_id: str, fps: float, crop_size: int, *, jpegs: str = "all",
                 keep_landmarks: bool = False) -> None:
        if jpegs not in ("all", "usable", "none"):
            raise ValueError(f"jpegs is one of 'all', 'usable', 'none', got {jpegs!r}")
        self.clip_id, self.fps, self.crop_size = clip_id, float(fps), crop_size
        self.jpeg_mode, self.keep_landmarks = jpegs, keep_landmarks
        self.size: tuple[int, int] = (0, 0)
        # All JPEGs in one growing buffer (a list of small arrays fragments the heap, and packing them for the clip
        # record would copy them all once more); per crop its (start, end) in it, or None where not encoded.
        self._data = bytearray()
        self._jpegs: list[list[tuple[int, int] | None]] = []
        self._rows: dict[str, list] = {name: [] for name in ("boxes", "provenance", "pose", "frames", "times",
                                                              "found", "regions")}
        self._landmarks: list[FrameLandmarks] = []

    def add(self, frame: ParsedFrame) -> None:
        """Keep what the records need of one frame; its raw crops are dropped once encoded."""
        if not self._jpegs:
            self.size = (int(frame.shape[0]), int(frame.shape[1]))
        usable = np.asarray(frame.found, dtype=bool) & np.isin(frame.provenance, (LANDMARKS, SHIFTED))
        wanted = {"all": [True] * 3, "usable": list(usable), "none": [False] * 3}[self.jpeg_mode]
        spans: list[tuple[int, int] | None] = []
        for part in range(len(PART_NAMES)):
            if wanted[part]:
                start = len(self._data)
                self._data += encode_jpeg(frame.crops[part], JPEG_QUALITY).tobytes()
                spans.append((start, len(self._data)))
            else:
                spans.append(None)
        self._jpegs.append(spans)
        rows = self._rows
        rows["boxes"].append(frame.boxes)
        rows["provenance"].append(frame.provenance)
        rows["pose"].append(frame.pose)
        rows["frames"].append(frame.index)
        rows["times"].append(frame.time)
        rows["found"].append(frame.found)
        rows["regions"].append(frame.face_regions)
        if self.keep_landmarks:
            self._landmarks.append(frame.landmarks)

    def __len__(self) -> int:
        return len(self._jpegs)

    # the arrays of ParsedClip, stacked on demand (a few bytes per frame)
    @property
    def boxes(self) -> np.ndarray:
        return np.stack(self._rows["boxes"]).astype(np.float32)

    @property
    def provenance(self) -> np.ndarray:
        return np.stack(self._rows["provenance"]).astype(np.uint8)

    @property
    def pose(self) -> np.ndarray:
        return np.stack(self._rows["pose"]).astype(np.float32)

    @property
    def frame_index(self) -> np.ndarray:
        return np.asarray(self._rows["frames"], dtype=np.int64)

    @property
    def timestamps(self) -> np.ndarray:
        return np.asarray(self._rows["times"], dtype=np.float64)

    @property
    def found(self) -> np.ndarray:
        return np.asarray(self._rows["found"], dtype=bool)

    @property
    def face_regions(self) -> np.ndarray | None:
        regions = self._rows["regions"]
        return np.stack(regions) if regions and regions[0] is not None else None

    @property
    def landmarks(self) -> ClipLandmarks | None:
        return ClipLandmarks.stack(self._landmarks) if self.keep_landmarks else None

    def jpeg(self, position: int, part: int) -> np.ndarray:
        """The JPEG of one crop (``uint8 (N,)``), as :func:`~signmusketeers.data.shards.encode_jpeg` made it."""
        span = self._jpegs[position][part]
        if span is None:
            raise ValueError(f"clip {self.clip_id!r}: the crop of part {part} in frame {position} was not kept")
        return np.frombuffer(self._data, dtype=np.uint8, count=span[1] - span[0], offset=span[0])

    def packed_crops(self) -> tuple[np.ndarray, np.ndarray]:
        """All crops as :func:`~signmusketeers.data.shards.pack_jpegs` packs them (frame by frame: face, left, right)."""
        if self.jpeg_mode != "all":
            raise ValueError(f"clip {self.clip_id!r}: not every crop was encoded (jpegs={self.jpeg_mode!r})")
        # every crop was appended in record order: the buffer is the packed array (shared, not copied), and its
        # spans give the offsets
        offsets = np.array([0] + [span[1] for row in self._jpegs for span in row], dtype=np.int64)
        return np.frombuffer(self._data, dtype=np.uint8), offsets

    def frame_crops(self, position: int) -> np.ndarray:
        """``uint8 (3, S, S, 3)``: one frame's crops decoded from their JPEGs (black where not kept)."""
        crops = np.zeros((len(PART_NAMES), self.crop_size, self.crop_size, 3), dtype=np.uint8)
        for part, span in enumerate(self._jpegs[position]):
            if span is not None:
                crops[part] = decode_jpeg(self.jpeg(position, part))
        return crops


def encode_clip(parser: FrameParser, video: str, *, clip_id: str | None = None, jpegs: str = "all",
                keep_landmarks: bool = False, **where: Any) -> EncodedClip:
    """Parse ``video`` frame by frame into an :class:`EncodedClip` (``where``: ``landmarks``, ``start``, ``end``,
    ``fps`` of :meth:`~signmusketeers.parsing.FrameParser.stream_video`). Raises what ``parse_video`` raises."""
    clip = EncodedClip(clip_id or Path(video).stem, 0.0, parser.crop_size, jpegs=jpegs, keep_landmarks=keep_landmarks)
    # stream_video lets frames before a part's first box wait for it without limit, as parse_video does, so the
    # records stay byte-identical to the whole-clip path's; a waiting frame holds its decoded image until then
    # (a bounded wait would give those frames black crops and NaN boxes instead, and lose their crop records).
    for frame in parser.stream_video(video, **where):
        clip.add(frame)
    clip.fps = float(probe_video(video, fps=where.get("fps")).fps)  # the stream probed it already: it opens
    return clip


def clip_record(clip: ParsedClip | EncodedClip, text: str = "", split: str = "", *, records: str = "full",
                video: str | None = None, video_frames: int = 0) -> dict[str, Any]:
    """The clip-shard record (formats: :mod:`signmusketeers.data.shards`).

    ``records="full"``: the crops as JPEGs packed in one array + offsets. ``records="boxes"``: no crops; instead the
    source ``video`` (its absolute path), the
    frame count its header announced (``video_frames``, 0 = unknown) and the ``crop_size``, from which extraction
    cuts the same crops again (:mod:`signmusketeers.parsing.recrop`). Both kinds hold the boxes, pose, provenance,
    decoded frame indices, timestamps, fps and frame size. ``clip`` may be an :class:`EncodedClip` (the record is
    byte-for-byte the same as from the :class:`ParsedClip` of the same video).
    """
    record: dict[str, Any] = {}
    encoded = isinstance(clip, EncodedClip)
    if records == "full":
        if encoded:
            record["crops"], record["offsets"] = clip.packed_crops()
        else:
            record["crops"], record["offsets"] = pack_jpegs(list(clip.crops.reshape(-1, *clip.crops.shape[2:])))
    elif records == "boxes":
        if video is None:
            raise ValueError("a boxes-only clip record needs its source video path")
        record.update(video=str(Path(video).resolve()), video_frames=np.array([video_frames], dtype=np.int64),
                      crop_size=np.array([clip.crop_size if encoded else clip.crops.shape[2]], dtype=np.int64))
        regions = clip.face_regions
        if regions is not None:  # extract masks the faces it cuts again with these
            record["face_regions"] = regions
    else:
        raise ValueError(f"clip records are one of {CLIP_RECORDS}, got {records!r}")
    return record | {
        "pose": clip.pose,
        "provenance": clip.provenance,
        "boxes": clip.boxes,
        "frames": clip.frame_index,
        "timestamps": clip.timestamps,
        "fps": np.array([clip.fps], dtype=np.float32),
        "size": np.array(clip.size, dtype=np.int64),
        "text": text,
        "split": split,
        "clip_id": clip.clip_id,
    }


def crop_records(clip: ParsedClip | EncodedClip, frames_per_clip: int, picks: list[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """Crop-shard records for ``frames_per_clip`` evenly spaced frames (the middles of equal segments): the face and both hands (``part`` "face" or
    "hand", ``side`` "face"/"left"/"right"). Only crops whose box came from the part's own landmarks in that frame
    (possibly shifted into the frame) are kept: a fallback box may not hold the hand at all, which would teach the
    encoder noise. ``picks``: the ``(position, part)`` crops of a corpus-wide sample instead
    (:func:`~signmusketeers.parsing.sample.pick_crops`, which keeps to the same rule). ``clip`` may be an
    :class:`EncodedClip` (its kept JPEGs are the records' images, byte-for-byte those made from raw crops)."""
    found, provenance, frame_index = clip.found, clip.provenance, clip.frame_index
    if picks is None:
        if frames_per_clip <= 0:
            return []
        # The middles of equal segments of the clip: never just its first and last frames, where signers tend to rest.
        count = min(frames_per_clip, len(clip))
        positions = np.unique(((np.arange(count) + 0.5) * len(clip) / count).astype(int))
        picks = [(int(position), part) for position in positions for part in range(len(PART_NAMES))
                 if found[position, part] and provenance[position, part] in (LANDMARKS, SHIFTED)]
    records = []
    for position, part in picks:
        side = PART_NAMES[part]
        if isinstance(clip, EncodedClip):
            data = clip.jpeg(position, part).copy()  # what pack_jpegs makes of one image: a copy of its JPEG
        else:
            data, _ = pack_jpegs([clip.crops[position, part]])
        records.append(
            {
                "image": data,
                "part": "face" if side == "face" else "hand",
                "side": side,
                "clip_id": clip.clip_id,
                "frame": np.array([frame_index[position]], dtype=np.int64),
                "provenance": provenance[position, part : part + 1].copy(),
            }
        )
    return records


def pose_path(folder: Path, clip_id: str) -> Path:
    """Where ``--poses-out`` puts a clip's ``.pose`` (clip ids with ``/`` become ``__``, as for previews)."""
    return Path(folder) / f"{clip_id.replace('/', '__')}.pose"
class SampleTally:
    """Crops of the corpus-wide sample written per clip, kept beside the crop shards' ledgers
    (``.ledger/sample-SHARD.jsonl``) so that the totals cover every job and every resumed run."""

    def __init__(self, folder: Path, shard_index: int) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER / f"sample-{shard_index:05d}.jsonl"

    def add(self, clip_id: str, records: list[dict[str, Any]]) -> None:
        faces = sum(r["part"] == "face" for r in records)
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"clip_id": clip_id, "face": faces, "hand": len(records) - faces}) + "\n")

    def counts(self, done: set[str]) -> dict[str, tuple[int, int]]:
        """Per clip (face, hand) crops, for the clips the shard ledgers hold (a line of a clip whose segment was lost
        to an interruption is left out; its rerun writes it again)."""
        counts = {}
        for path in sorted((self.folder / LEDGER).glob("sample-*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interruption
                if row.get("clip_id") in done:
                    counts[row["clip_id"]] = (int(row["face"]), int(row["hand"]))
        return counts

    def report(self, plan, writer: ShardWriter, manifest: ShardManifest | None) -> None:
        done = {key for ledger in writer._ledgers().values() for key in ledger["keys"]}
        counts = self.counts(done)
        faces, hands = sum(f for f, _ in counts.values()), sum(h for _, h in counts.values())
        face_clips, hand_clips = sum(f > 0 for f, _ in counts.values()), sum(h > 0 for _, h in counts.values())
        short = [sum(max(0, plan.quota(c)[i] - counts[c][i]) for c in counts) for i in (0, 1)]
        pending = sum(1 for c in plan.quotas if c not in done)
        scope = "crop sample" if manifest is not None else "crop sample so far"
        print(f"signmusketeers parse: {scope}: {faces} face crops from {face_clips} clips, {hands} hand crops from "
              f"{hand_clips} clips (budgets {plan.budgets['face']}/{plan.budgets['hand']}; short by {short[0]} face "
              f"and {short[1]} hand crops in clips with fewer detected candidates than their quota; "
              f"{pending} sampled clips not written{' (failed)' if manifest is not None and pending else ''})",
              file=sys.stderr)
        if manifest is not None:
            manifest.made_by["sample"] = {"face_crops": faces, "face_clips": face_clips, "hand_crops": hands,
                                          "hand_clips": hand_clips, "short": {"face": short[0], "hand": short[1]},
                                          "clips_not_written": pending}
            manifest.write(self.folder)


# ------------------------------------------------------------------------------------------ work per clip

_PARSER: FrameParser | None = None


def _init_worker(parser_kwargs: dict[str, Any]) -> None:
    global _PARSER
    _PARSER = FrameParser(**parser_kwargs)


def parse_one(job: dict[str, Any]) -> dict[str, Any]:
    """Parse one clip in a worker; returns its records or the one-line failure reason (never raises for bad input)."""
    clip: InputClip = job["clip"]
    if clip.problem:  # found while reading the manifest (e.g. a missing video): a failure like any other
        return {"clip": clip, "error": f"{clip.video}: {clip.problem}"}
    try:
        # Frame by frame: each frame's crops are JPEG-encoded as it arrives and only the encoded ones are kept
        # (which crops: what the wanted records take), so a clip holds ~35 KB per kept 224-px frame, not ~450 KB.
        records = job.get("clip_records", "full")
        jpegs = ("all" if job["want_clip"] and records == "full" or job["preview_dir"]
                 else "usable" if job["want_crops"] else "none")
        parsed = encode_clip(_PARSER, clip.video, clip_id=clip.clip_id, jpegs=jpegs,
                             keep_landmarks=bool(job.get("pose_file")), landmarks=clip.landmarks, start=clip.start,
                             end=clip.end, fps=clip.fps)
        result = {"clip": clip, "frames": len(parsed)}
        info = probe_video(clip.video, fps=clip.fps) if clip.end is not None or job["want_clip"] else None
        if clip.end is not None and info.duration and clip.end > info.duration:
            result["clamped"] = info.duration  # the segment ends past the video's end: cut at its end, counted
        if job["want_clip"]:
            announced = info.frames if records == "boxes" else 0
            result["clip_record"] = clip_record(parsed, clip.text, clip.split, records=records, video=clip.video,
                                                video_frames=announced)
        if job["want_crops"]:  # possibly none (no part detected): the clip still counts as done for the crop shards
            quota = job.get("quota")
            picks = None if quota is None else pick_crops(clip.clip_id, parsed.found, parsed.provenance, *quota,
                                                           seed=job["crop_seed"])
            result["crop_records"] = crop_records(parsed, job["crop_frames"], picks)
        if job.get("pose_file"):  # the clip's landmarks as a .pose (pose-format), at the rate of the kept frames
            from .posefile import write_pose_file

            height, width = parsed.size
            write_pose_file(job["pose_file"], parsed.landmarks, width, height, parsed.fps / _PARSER.stride)
        if job["preview_dir"]:
            from .preview import render_preview, write_preview

            image = render_preview(clip.video, parsed, region_of_interest=_PARSER.region_of_interest)
            target = Path(job["preview_dir"]) / f"{clip.clip_id.replace('/', '__')}.png"
            write_preview(target, image)
        return result
    except (ParseError, ValueError) as error:
        message = str(error)
        return {"clip": clip, "error": message if message.startswith(clip.video) else f"{clip.video}: {message}"}
    except Exception as error:  # one bad input must not stop a corpus: report it like the others
        return {"clip": clip, "error": f"{clip.video}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}


# ------------------------------------------------------------------------------------------ command


def _region(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1")
    return values


def _existing_clip_records(folder: Path) -> str | None:
    """The clip-record kind of an earlier run into ``folder``: from its manifest once finished, else from the field
    names of the segments an interrupted run made durable (LitData's ``data_spec`` in our ledgers)."""
    try:
        made_by = ShardManifest.read(folder).made_by
        if made_by.get("command") == "signmusketeers parse":
            return made_by.get("clip_records", "full")  # folders written before boxes-only records existed
    except ShardError:
        pass
    for ledger in sorted((folder / LEDGER).glob("[0-9]*-[0-9]*.json")):
        try:
            spec = json.loads(json.loads(ledger.read_text())["config"]["data_spec"])
            fields = json.loads(spec[1]["context"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        return "full" if "crops" in fields else "boxes" if "video" in fields else None
    return None


def register(parser: argparse.ArgumentParser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders of videos, or manifests")
    parser.add_argument("--out", required=True, type=Path, help="clip shard folder (for translation)")
    parser.add_argument("--crops-out", type=Path, help="crop shard folder (face and hand crops for pre-training)")
    add_input_options(parser)
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="keep every N-th frame (paper: 2)")
    parser.add_argument("--crop-size", type=int, default=CROP_SIZE, help="crop side in pixels (paper: 224)")
    parser.add_argument(
        "--clip-records", choices=CLIP_RECORDS, default="full",
        help="full: JPEG crops of every kept frame (extract needs only the shards); boxes: boxes, pose and the source "
             "video's path, no crops (extract decodes the source videos again, which must then still be there)",
    )  # fmt: skip
    parser.add_argument("--crops-per-clip", type=int, default=None,
                        help="frames of every clip for crop shards (16; without --face-crops/--hand-crops)")
    parser.add_argument("--face-crops", type=int, default=None, metavar="N",
                        help="face crops of a seeded random sample over the whole corpus (paper: 1000000)")
    parser.add_argument("--hand-crops", type=int, default=None, metavar="N",
                        help="hand crops (left and right together) of that sample, a budget of their own (paper: 1000000)")
    parser.add_argument("--crop-seed", type=int, default=0, help="seed of the corpus-wide crop sample")
    parser.add_argument("--crop-budget", type=int, default=None, metavar="N",
                        help="the same as --face-crops N --hand-crops N")
    parser.add_argument(
        "--roi", type=_region, default=None, metavar="X0,Y0,X1,Y1",
        help="region of interest holding the signer, as fractions of the frame (e.g. 0,0,0.5,1 = left half)",
    )  # fmt: skip
    parser.add_argument("--landmarks-model", type=Path, metavar="FILE.task",
                        help="MediaPipe Tasks HolisticLandmarker model file, instead of the Holistic models bundled "
                             "with mediapipe 0.10.21 (needs mediapipe >= 1.2, e.g. on Python 3.13)")
    parser.add_argument("--face-privacy", action=argparse.BooleanOptionalAction, default=True,
                        help="grey out all but the eyes and mouth of face crops, then blur, as in the paper (default); "
                             "--no-face-privacy keeps whole faces")
    parser.add_argument("--preview", action="store_true", help="write OUT/previews/CLIP.png with the boxes drawn")
    parser.add_argument("--poses-out", type=Path, metavar="DIR",
                        help="also write each clip's landmarks as DIR/CLIP.pose (pose-format, MediaPipe Holistic layout)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes, one MediaPipe graph each")
    parser.add_argument(
        "--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
        help="make finished clips durable at least this often (an interrupted run loses at most this much work)",
    )  # fmt: skip
    parser.add_argument("--shard-index", type=int, default=0, help="this job's part of the inputs (job arrays)")
    parser.add_argument("--num-shards", type=int, default=1, help="how many jobs split the inputs")
    return run


def run(args: argparse.Namespace) -> int:
    def fail_line(text: str) -> None:
        print(f"signmusketeers parse: {text}", file=sys.stderr)

    if not 0 <= args.shard_index < args.num_shards:
        fail_line(f"--shard-index {args.shard_index} is not in [0, --num-shards {args.num_shards})")
        return 2
    if args.workers < 1 or args.stride < 1:
        fail_line("--workers and --stride must be at least 1")
        return 2
    try:
        clips = read_input_options(args)
    except (ManifestError, OSError) as error:
        fail_line(str(error))
        return 2
    corpus = sorted(clips, key=lambda c: c.clip_id)  # every job's clips: the crop sample is planned over all of them
    clips = corpus[args.shard_index :: args.num_shards]
    if args.crop_budget is not None:
        args.face_crops = args.crop_budget if args.face_crops is None else args.face_crops
        args.hand_crops = args.crop_budget if args.hand_crops is None else args.hand_crops
    sampled = args.face_crops is not None or args.hand_crops is not None
    if sampled and args.crops_per_clip is not None:
        fail_line("--crops-per-clip takes frames of every clip; --face-crops/--hand-crops sample the corpus: give one")
        return 2
    if sampled and args.crops_out is None:
        fail_line("--face-crops/--hand-crops sample crops for --crops-out; give the crop shard folder")
        return 2
    if sampled and min(args.face_crops or 0, args.hand_crops or 0) < 0:
        fail_line("--face-crops and --hand-crops must not be negative")
        return 2
    if args.crops_per_clip is None:
        args.crops_per_clip = 16

    parser_kwargs = {
        "crop_size": args.crop_size,
        "stride": args.stride,
        "region_of_interest": args.roi,
        "face_privacy": args.face_privacy,
        "keep_landmarks": args.poses_out is not None,  # only --poses-out needs them
    }
    try:
        check_region(args.roi)
    except ValueError as error:
        fail_line(f"--roi: {error}")
        return 2
    if args.crops_out is not None and args.crops_out.resolve() == args.out.resolve():
        fail_line(f"{args.out}: --out and --crops-out must be different folders")
        return 2
    existing = _existing_clip_records(args.out)
    if existing is not None and existing != args.clip_records:
        fail_line(f"{args.out}: holds {existing} clip records, cannot add --clip-records {args.clip_records} "
                  "(use another --out)")
        return 2
    arguments = {key: value if isinstance(value, (int, float, bool, type(None))) else str(value)
                 for key, value in vars(args).items()}  # fmt: skip
    made_by = {"command": "signmusketeers parse", "arguments": arguments, "config": {**parser_kwargs},
               "clip_records": args.clip_records,  # read by extract and by people: which kind of clip record
               "face_privacy": bool(args.face_privacy)}  # read by extract: carried into features and checkpoints
    made_by["config"].update(
        crops_per_clip=None if sampled else args.crops_per_clip,
        crop_sample={"face_crops": args.face_crops or 0, "hand_crops": args.hand_crops or 0, "seed": args.crop_seed,
                     "plan": "crop_plan.json"} if sampled else None,
        landmarks="the manifest's landmark files or VIDEO.pose where given, else MediaPipe Holistic (model_complexity=1)",
    )
    if args.landmarks_model is not None:  # after made_by: the source object is not JSON, its path is
        from .landmarks import MediaPipeTasksHolistic

        made_by["config"]["landmarks"] = f"MediaPipe Tasks HolisticLandmarker ({args.landmarks_model.resolve()})"
        try:
            parser_kwargs["landmark_source"] = MediaPipeTasksHolistic(args.landmarks_model, region_of_interest=args.roi)
        except ValueError as error:
            fail_line(str(error))
            return 2
    split = {"shard_index": args.shard_index, "num_shards": args.num_shards, "segment_seconds": args.checkpoint_every}
    try:
        for folder in (args.out, args.crops_out):
            if folder is not None:
                claim_face_privacy(folder, args.face_privacy)
    except FacePrivacyError as error:
        fail_line(str(error))
        return 2
    plan = None
    if sampled:
        try:
            plan, made = load_or_make_plan(args.crops_out, corpus, args.face_crops or 0, args.hand_crops or 0,
                                           args.crop_seed, args.stride)
        except PlanError as error:
            fail_line(str(error))
            return 2
        totals = plan.totals()
        print(f"signmusketeers parse: crop sample {'planned' if made else 'plan read'}: {totals['face']} face and "
              f"{totals['hand']} hand crops over {len(plan.quotas)} of {len(corpus)} clips "
              f"({sum(plan.candidates.values())} candidate frames; {args.crops_out / 'crop_plan.json'})",
              file=sys.stderr)
    try:
        clip_writer = ShardWriter(args.out, "clips", made_by, **split)
        crop_writer = ShardWriter(args.crops_out, "crops", made_by, **split) if args.crops_out else None
    except (ShardError, OSError) as error:
        fail_line(str(error))
        return 2
    writers = [w for w in (clip_writer, crop_writer) if w is not None]
    preview_dir = None
    if args.preview:
        preview_dir = args.out / "previews"
        preview_dir.mkdir(parents=True, exist_ok=True)

    for clip in clips:  # not a failure: the crops still serve pre-training, the text may come from a text manifest
        if clip.split and not clip.text.strip():
            fail_line(f"{clip.video}: clip {clip.clip_id!r} of split {clip.split!r} has an empty transcript (kept; "
                      "give its text in the manifest, or to training with a text manifest)")
    failed = [c for c in clips if any(c.clip_id in w.failed_keys for w in writers)]
    for clip in failed:
        fail_line(f"{clip.video}: failed in an earlier run (see failures.jsonl; delete its line to retry)")

    def crop_frames() -> int:
        return 0 if crop_writer is None or plan is not None else args.crops_per_clip

    jobs = []
    failed_before = {clip.clip_id for clip in failed}
    for clip in clips:
        if clip.clip_id in failed_before:
            continue
        want_clip = not clip_writer.is_done(clip.clip_id)
        want_crops = crop_writer is not None and not crop_writer.is_done(clip.clip_id)
        quota = plan.quota(clip.clip_id) if plan is not None else None
        if quota is not None and not any(quota):
            want_crops = False  # not in the sample: no crop shard key at all
        pose_file = pose_path(args.poses_out, clip.clip_id) if args.poses_out else None
        if pose_file is not None and pose_file.exists():
            pose_file = None
        if want_clip or want_crops or pose_file:
            jobs.append({"clip": clip, "want_clip": want_clip, "want_crops": want_crops, "preview_dir": preview_dir,
                         "clip_records": args.clip_records, "quota": quota, "crop_seed": args.crop_seed,
                         "pose_file": pose_file})

    started, frames, parsed, clamped = time.monotonic(), 0, 0, 0
    tally = SampleTally(args.crops_out, args.shard_index) if plan is not None else None

    def consume(result: dict[str, Any]) -> None:
        nonlocal frames, parsed, clamped
        clip = result["clip"]
        if "error" in result:
            fail_line(result["error"])
            failed.append(clip)
            for writer in writers:
                writer.fail(clip.clip_id, result["error"].split(": ", 1)[-1], input=clip.video)
            return
        frames += result["frames"]
        parsed += 1
        clamped += "clamped" in result
        if "clip_record" in result:
            clip_writer.write(clip.clip_id, [result["clip_record"]])
        if "crop_records" in result and crop_writer is not None and not crop_writer.is_done(clip.clip_id):
            crop_writer.write(clip.clip_id, result["crop_records"])
            if plan is not None:
                tally.add(clip.clip_id, result["crop_records"])

    def with_crop_frames(job: dict[str, Any]) -> dict[str, Any]:
        return {**job, "crop_frames": crop_frames() if job["want_crops"] else 0}

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("parse"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[fps]}"))
    try:
        with Progress(*columns, transient=False, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("parse", total=len(jobs), fps="")

            def advance() -> None:
                progress.update(task, advance=1, fps=f"{frames / max(time.monotonic() - started, 1e-9):.1f} frames/s")

            if args.workers == 1:
                _init_worker(parser_kwargs)
                for job in jobs:
                    consume(parse_one(with_crop_frames(job)))
                    advance()
            else:
                context = multiprocessing.get_context("spawn")
                with futures.ProcessPoolExecutor(
                    args.workers, mp_context=context, initializer=_init_worker, initargs=(parser_kwargs,)
                ) as pool:
                    pending: set[futures.Future] = set()
                    queue = iter(jobs)
                    for job in queue:  # keep two clips per worker in flight: bounded memory, no idle worker
                        pending.add(pool.submit(parse_one, with_crop_frames(job)))
                        if len(pending) >= 2 * args.workers:
                            done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                            for future in done:
                                consume(future.result())
                                advance()
                    for future in futures.as_completed(pending):
                        consume(future.result())
                        advance()
    except futures.process.BrokenProcessPool:
        # A worker died (killed, out of memory, a crash inside MediaPipe): keep what is done, let a rerun redo the rest.
        fail_line("a worker process died; finished clips are kept, run the same command again to do the rest")
        return 1  # after the flush below
    finally:
        for writer in writers:
            writer.flush()  # what is complete stays written, even on Ctrl-C; a rerun does the rest
    for writer in writers:
        manifest = writer.finish()
        state = f"{manifest.records} records" if manifest else "waiting for the other --shard-index jobs"
        print(f"signmusketeers parse: {writer.folder}: {state}", file=sys.stderr)
        if writer is crop_writer and tally is not None:
            tally.report(plan, writer, manifest)
    seconds = time.monotonic() - started
    print(
        f"signmusketeers parse: {parsed} clips parsed, {frames} frames in {seconds:.1f} s "
        f"({frames / max(seconds, 1e-9):.1f} frames/s), {len(failed)} failed"
        + (f", {clamped} segment{'s' if clamped != 1 else ''} ending past the video's end (cut at its end)"
           if clamped else ""),
        file=sys.stderr,
    )
    return 1 if failed else 0
