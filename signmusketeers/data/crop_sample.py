"""The pre-training crop sample: seeded, corpus-wide, with separate face and hand budgets (paper §4: "1 million random
face crops and 1 million random hand crops from YouTube-ASL").

The sample is decided in two steps, both from the seed alone, so one run, a run killed and resumed, and any
``--shard-index/--num-shards`` split take exactly the same crops:

1. **Quotas, from the corpus up front** (:func:`make_plan`): every clip's candidates are its kept frames (the
   segment's duration × frame rate from the video header, divided by the stride) for faces, and twice that (left and
   right) for hands. A face budget of N draws N of all the corpus's face candidates without replacement (a
   multivariate hypergeometric draw over the clips, in clip-id order, from ``numpy.random.default_rng(seed)``);
   hands likewise with their own budget. A clip's quota is how many of its candidates were drawn. The plan is
   saved as ``CROPS_OUT/crop_plan.json`` by the first run and read back by every later run or job (the videos are
   probed once), which must ask for the same budgets, seed and stride.
2. **Frames, within the clip** (:func:`pick_crops`), after parsing: a face quota of q takes q of the frames whose
   face box came from the face's own landmarks (the crop shard's rule: a fallback box may hold no face at all),
   chosen by a generator seeded with (seed, clip id, part); a hand quota takes q of the (frame, side) pairs with that
   hand's own landmarks.

The crop records themselves (:func:`crop_records`) follow the same rule with or without a sample: only crops whose
box came from the part's own landmarks. :class:`SampleTally` counts what the sample wrote over every job and run.

A frame may lack the part: a clip with fewer detected candidates than its quota gives all it has, and the
shortfall is counted and reported, not moved to other clips (that would make one clip's crops depend on how other
clips parsed, which a job of a split or a resumed run does not know). Since the header's count is an estimate of the
decoded frames, the same holds when a clip decodes fewer frames than announced.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.data.manifests import InputClip
from signmusketeers.data.shards import LEDGER
from signmusketeers.errors import InputError
from signmusketeers.formats.records import crop_record, pack_jpegs
from signmusketeers.parsing.boxes import LANDMARKS, PART_NAMES, SHIFTED

PLAN = "crop_plan.json"
PARTS = ("face", "hand")


class PlanError(InputError):
    """A crop plan that does not fit the command (other budgets, seed or clips); one line."""


def _clip_key(clip_id: str) -> list[int]:
    return list(np.frombuffer(hashlib.sha256(clip_id.encode()).digest()[:16], dtype=np.uint32))


def kept_frames(clip: InputClip, stride: int, cache: dict[str, tuple[float, int, float]] | None = None) -> int:
    """Estimated kept frames of ``clip`` from its video's header (0 when the video cannot be probed: it will fail to
    parse anyway)."""
    import av

    cache = {} if cache is None else cache
    if clip.video not in cache:
        try:
            with av.open(clip.video) as container:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                duration = (
                    float(stream.duration * stream.time_base)
                    if stream.duration is not None and stream.time_base
                    else (container.duration or 0) / 1_000_000
                )
                cache[clip.video] = (float(rate) if rate else 0.0, int(stream.frames or 0), duration)
        except Exception:  # noqa: BLE001 - any unreadable video: no candidates, its parse reports it
            cache[clip.video] = (0.0, 0, 0.0)
    fps, frames, duration = cache[clip.video]
    if clip.start is not None or clip.end is not None:
        end = clip.end if clip.end is not None else duration
        frames = int(round(max(0.0, end - (clip.start or 0.0)) * fps))
    elif not frames:
        frames = int(round(duration * fps))
    return -(-frames // stride)


@dataclass
class CropPlan:
    """Per-clip face and hand quotas of a seeded corpus-wide sample (module doc)."""

    seed: int
    budgets: dict[str, int]
    stride: int
    candidates: dict[str, int]  # clip id → kept frames
    quotas: dict[str, list[int]] = field(default_factory=dict)  # clip id → [face, hand]

    def quota(self, clip_id: str) -> tuple[int, int]:
        face, hand = self.quotas.get(clip_id, (0, 0))
        return int(face), int(hand)

    def totals(self) -> dict[str, int]:
        return {part: sum(q[i] for q in self.quotas.values()) for i, part in enumerate(PARTS)}

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "budgets": self.budgets,
            "stride": self.stride,
            "candidates": self.candidates,
            "quotas": self.quotas,
        }

    @classmethod
    def from_json(cls, payload: dict) -> CropPlan:
        return cls(
            int(payload["seed"]),
            {k: int(v) for k, v in payload["budgets"].items()},
            int(payload["stride"]),
            {k: int(v) for k, v in payload["candidates"].items()},
            {k: [int(a), int(b)] for k, (a, b) in payload["quotas"].items()},
        )


def make_plan(
    clips: Sequence[InputClip],
    face_crops: int,
    hand_crops: int,
    seed: int,
    stride: int,
    candidates: dict[str, int] | None = None,
) -> CropPlan:
    """Quotas for ``clips`` (the whole corpus, every job's share) from their kept-frame counts (probed unless
    ``candidates`` gives them)."""
    ordered = sorted(clips, key=lambda c: c.clip_id)
    if candidates is None:
        cache: dict[str, tuple[float, int, float]] = {}
        candidates = {c.clip_id: kept_frames(c, stride, cache) for c in ordered}
    counts = np.array([candidates[c.clip_id] for c in ordered], dtype=np.int64)
    generator = np.random.default_rng(seed)
    quotas = np.zeros((len(ordered), 2), dtype=np.int64)
    for column, (budget, per_frame) in enumerate(((face_crops, 1), (hand_crops, 2))):
        pool = counts * per_frame
        if budget > 0 and pool.sum() > 0:
            quotas[:, column] = generator.multivariate_hypergeometric(
                pool, min(budget, int(pool.sum())), method="marginals"
            )
    return CropPlan(
        seed,
        {"face": face_crops, "hand": hand_crops},
        stride,
        {c.clip_id: int(n) for c, n in zip(ordered, counts)},
        {c.clip_id: [int(f), int(h)] for c, (f, h) in zip(ordered, quotas) if f or h},
    )


def load_or_make_plan(
    folder: str | os.PathLike, clips: Sequence[InputClip], face_crops: int, hand_crops: int, seed: int, stride: int
) -> tuple[CropPlan, bool]:
    """The plan saved in ``folder`` if there is one (checked against the command), else a new one, saved.

    Returns ``(plan, made)``. Raises :class:`PlanError` when the saved plan was made with other budgets, seed, stride
    or clips.
    """
    path = Path(folder) / PLAN
    if path.exists():
        try:
            plan = CropPlan.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PlanError(f"{path}: not a readable crop plan ({error}); delete it to plan again") from None
        asked = {"face": face_crops, "hand": hand_crops}
        if plan.budgets != asked or plan.seed != seed or plan.stride != stride:
            raise PlanError(
                f"{path}: planned with --face-crops {plan.budgets['face']} --hand-crops "
                f"{plan.budgets['hand']} --crop-seed {plan.seed} --stride {plan.stride}; give the same "
                "(or another --crops-out)"
            )
        missing = sorted({c.clip_id for c in clips} - set(plan.candidates))
        extra = len(set(plan.candidates) - {c.clip_id for c in clips})
        if missing or extra:
            named = f", e.g. {missing[0]!r}" if missing else ""
            raise PlanError(
                f"{path}: planned for another corpus ({len(missing)} clips not in the plan{named}; "
                f"{extra} planned clips not given): give every job the whole corpus's inputs"
            )
        return plan, False
    plan = make_plan(clips, face_crops, hand_crops, seed, stride)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PLAN}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(plan.to_json(), sort_keys=True) + "\n")
    tmp.replace(path)  # jobs starting together write the same plan: the seed decides it
    return plan, True


def pick_crops(
    clip_id: str, found: np.ndarray, provenance: np.ndarray, face_quota: int, hand_quota: int, seed: int
) -> list[tuple[int, int]]:
    """``(position, part)`` of the crops to take from a parsed clip (module doc): part 0 = face, 1/2 = left/right.

    ``found`` ``bool (T, 3)`` and ``provenance`` ``uint8 (T, 3)`` as in :class:`~signmusketeers.parsing.ParsedClip`.
    """
    usable = np.asarray(found, dtype=bool) & np.isin(provenance, (LANDMARKS, SHIFTED))
    picked: list[tuple[int, int]] = []
    for number, (quota, parts) in enumerate(((face_quota, (0,)), (hand_quota, (1, 2)))):
        if quota <= 0:
            continue
        candidates = [(int(p), part) for p in range(len(usable)) for part in parts if usable[p, part]]
        generator = np.random.default_rng([seed, number, *_clip_key(clip_id)])
        chosen = generator.choice(len(candidates), size=min(quota, len(candidates)), replace=False)
        picked.extend(candidates[i] for i in chosen)
    return sorted(picked)


def even_picks(found: np.ndarray, provenance: np.ndarray, frames_per_clip: int) -> list[tuple[int, int]]:
    """``(position, part)`` of the usable crops of ``frames_per_clip`` evenly spaced frames: the middles of equal
    segments of the clip, never just its first and last frames, where signers tend to rest."""
    if frames_per_clip <= 0:
        return []
    length = len(found)
    count = min(frames_per_clip, length)
    positions = np.unique(((np.arange(count) + 0.5) * length / count).astype(int))
    return [
        (int(position), part)
        for position in positions
        for part in range(len(PART_NAMES))
        if found[position, part] and provenance[position, part] in (LANDMARKS, SHIFTED)
    ]


def crop_records(clip: Any, frames_per_clip: int, picks: list[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """Crop-shard records (:func:`~signmusketeers.formats.records.crop_record`) for ``frames_per_clip`` evenly spaced
    frames (:func:`even_picks`): the face and both hands. Only crops whose box came from the part's own landmarks in
    that frame (possibly shifted into the frame) are kept: a fallback box may not hold the hand at all, which would
    teach the encoder noise. ``picks``: the ``(position, part)`` crops of a corpus-wide sample instead
    (:func:`pick_crops`, which keeps to the same rule). ``clip`` is a :class:`~signmusketeers.parsing.ParsedClip` or
    an :class:`~signmusketeers.parsing.encoded.EncodedClip` (its kept JPEGs are the records' images, byte-for-byte
    those made from raw crops)."""
    provenance, frame_index = clip.provenance, clip.frame_index
    if picks is None:
        picks = even_picks(clip.found, provenance, frames_per_clip)
    records = []
    for position, part in picks:
        if hasattr(clip, "jpeg"):
            data = clip.jpeg(position, part).copy()  # what pack_jpegs makes of one image: a copy of its JPEG
        else:
            data, _ = pack_jpegs([clip.crops[position, part]])
        records.append(
            crop_record(
                data, PART_NAMES[part], clip.clip_id, int(frame_index[position]), int(provenance[position, part])
            )
        )
    return records


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

    def report(self, plan: CropPlan, done: set[str], finished: bool) -> tuple[str, dict[str, Any]]:
        """The sample's one-line summary over the keys ``done`` in the crop folder (``finished``: the folder was
        published, so clips not written failed) and the figures ``manifest.json`` keeps under ``made_by.sample``."""
        counts = self.counts(done)
        faces, hands = sum(f for f, _ in counts.values()), sum(h for _, h in counts.values())
        face_clips, hand_clips = sum(f > 0 for f, _ in counts.values()), sum(h > 0 for _, h in counts.values())
        short = [sum(max(0, plan.quota(c)[i] - counts[c][i]) for c in counts) for i in (0, 1)]
        pending = sum(1 for c in plan.quotas if c not in done)
        scope = "crop sample" if finished else "crop sample so far"
        line = (
            f"{scope}: {faces} face crops from {face_clips} clips, {hands} hand crops from "
            f"{hand_clips} clips (budgets {plan.budgets['face']}/{plan.budgets['hand']}; short by {short[0]} face "
            f"and {short[1]} hand crops in clips with fewer detected candidates than their quota; "
            f"{pending} sampled clips not written{' (failed)' if finished and pending else ''})"
        )
        figures = {
            "face_crops": faces,
            "face_clips": face_clips,
            "hand_crops": hands,
            "hand_clips": hand_clips,
            "short": {"face": short[0], "hand": short[1]},
            "clips_not_written": pending,
        }
        return line, figures
