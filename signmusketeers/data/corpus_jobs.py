"""Settings and planning of :func:`~signmusketeers.data.corpus.parse_corpus`: the checks of its options, what
``manifest.json`` records as having made the folders, the crop sample's plan, and the jobs (which clips still need
which records)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signmusketeers.data.crop_sample import PLAN, CropPlan, load_or_make_plan
from signmusketeers.data.manifests import InputClip
from signmusketeers.data.shard_manifest import ShardError, ShardManifest
from signmusketeers.data.shards import LEDGER, ShardWriter
from signmusketeers.errors import InputError
from signmusketeers.formats.records import CLIP_RECORDS
from signmusketeers.parsing.landmarks import check_region

DEFAULT_CROPS_PER_CLIP = 16


@dataclass
class CorpusSettings:
    """The options of one corpus job (``signmusketeers parse``'s, by the same names)."""

    out: Path
    crops_out: Path | None
    clip_records: str
    stride: int
    crop_size: int
    crops_per_clip: int | None
    face_crops: int | None
    hand_crops: int | None
    crop_seed: int
    roi: tuple[float, float, float, float] | None
    face_privacy: bool
    preview: bool
    poses_out: Path | None
    workers: int
    checkpoint_every: float
    shard_index: int
    num_shards: int
    landmarks_model: Path | None

    @property
    def sampled(self) -> bool:
        """A corpus-wide crop sample (face or hand budgets) instead of frames of every clip."""
        return self.face_crops is not None or self.hand_crops is not None

    def arguments(self) -> dict[str, Any]:
        """The settings as JSON values (what ``manifest.json`` records when no command line is given)."""
        return {key: json_value(value) for key, value in dataclasses.asdict(self).items()}


def json_value(value: Any) -> Any:
    """``value`` as strict JSON holds it: numbers, booleans and None as they are, anything else (paths, infinity) as
    its string."""
    plain = isinstance(value, (int, bool, type(None))) or (isinstance(value, float) and math.isfinite(value))
    return value if plain else str(value)


def check_settings(settings: CorpusSettings) -> None:
    """Raise :class:`~signmusketeers.errors.InputError` (one line) for options that do not go together."""
    s = settings
    if not 0 <= s.shard_index < s.num_shards:
        raise InputError(f"--shard-index {s.shard_index} is not in [0, --num-shards {s.num_shards})")
    if s.workers < 1 or s.stride < 1:
        raise InputError("--workers and --stride must be at least 1")
    if s.checkpoint_every < 0:
        raise InputError(f"--checkpoint-every must not be negative (inf: by size only), got {s.checkpoint_every}")
    if s.clip_records not in CLIP_RECORDS:
        raise InputError(f"--clip-records is one of {', '.join(CLIP_RECORDS)}, got {s.clip_records!r}")
    if s.sampled and s.crops_per_clip is not None:
        raise InputError(
            "--crops-per-clip takes frames of every clip; --face-crops/--hand-crops sample the corpus: give one"
        )
    if s.sampled and s.crops_out is None:
        raise InputError("--face-crops/--hand-crops sample crops for --crops-out; give the crop shard folder")
    if s.sampled and min(s.face_crops or 0, s.hand_crops or 0) < 0:
        raise InputError("--face-crops and --hand-crops must not be negative")
    if s.crops_per_clip is None:
        s.crops_per_clip = DEFAULT_CROPS_PER_CLIP  # unused by a sample (made_by records None then)
    try:
        check_region(s.roi)
    except ValueError as error:
        raise InputError(f"--roi: {error}") from None
    if s.crops_out is not None and s.crops_out.resolve() == s.out.resolve():
        raise InputError(f"{s.out}: --out and --crops-out must be different folders")
    existing = existing_clip_records(s.out)
    if existing is not None and existing != s.clip_records:
        raise InputError(
            f"{s.out}: holds {existing} clip records, cannot add --clip-records {s.clip_records} (use another --out)"
        )


def made_by(
    settings: CorpusSettings, arguments: dict[str, Any], *, verbose: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(made_by, parser_kwargs)``: what ``manifest.json`` records as having made the folders, and the
    :class:`~signmusketeers.parsing.FrameParser` keywords of the workers (``verbose``: theirs only, it changes no
    output)."""
    s = settings
    parser_kwargs: dict[str, Any] = {
        "crop_size": s.crop_size,
        "stride": s.stride,
        "region_of_interest": s.roi,
        "face_privacy": s.face_privacy,
        "keep_landmarks": s.poses_out is not None,  # only --poses-out needs them
    }
    record = {
        "command": "signmusketeers parse",
        "arguments": arguments,
        "config": {**parser_kwargs},
        "clip_records": s.clip_records,  # read by extract and by people: which kind of clip record
        "face_privacy": bool(s.face_privacy),
    }  # read by extract: carried into features and checkpoints
    record["config"].update(
        crops_per_clip=None if s.sampled else s.crops_per_clip,
        crop_sample={
            "face_crops": s.face_crops or 0,
            "hand_crops": s.hand_crops or 0,
            "seed": s.crop_seed,
            "plan": PLAN,
        }
        if s.sampled
        else None,
        landmarks="the manifest's landmark files or VIDEO.pose where given, "
        "else MediaPipe Holistic (model_complexity=1)",
    )
    parser_kwargs["verbose"] = verbose  # after made_by's config: it changes no output
    if s.landmarks_model is not None:  # after made_by: the source object is not JSON, its path is
        from signmusketeers.parsing import MediaPipeTasksHolistic

        record["config"]["landmarks"] = f"MediaPipe Tasks HolisticLandmarker ({s.landmarks_model.resolve()})"
        try:
            parser_kwargs["landmark_source"] = MediaPipeTasksHolistic(
                s.landmarks_model, region_of_interest=s.roi, verbose=verbose
            )
        except ValueError as error:
            raise InputError(str(error)) from None
    return record, parser_kwargs


def plan_sample(settings: CorpusSettings, corpus: list[InputClip], log: Callable[[str], None]) -> CropPlan | None:
    """The corpus-wide crop sample's plan (read from ``crop_plan.json`` or made and saved), or None without one."""
    s = settings
    if not s.sampled:
        return None
    plan, made = load_or_make_plan(s.crops_out, corpus, s.face_crops or 0, s.hand_crops or 0, s.crop_seed, s.stride)
    totals = plan.totals()
    log(
        f"crop sample {'planned' if made else 'plan read'}: {totals['face']} face and {totals['hand']} hand crops "
        f"over {len(plan.quotas)} of {len(corpus)} clips ({sum(plan.candidates.values())} candidate frames; "
        f"{s.crops_out / PLAN})"
    )
    return plan


def pose_path(folder: Path, clip_id: str) -> Path:
    """Where ``--poses-out`` puts a clip's ``.pose`` (clip ids with ``/`` become ``__``, as for previews)."""
    return Path(folder) / f"{clip_id.replace('/', '__')}.pose"


def plan_jobs(
    settings: CorpusSettings,
    clips: list[InputClip],
    plan: CropPlan | None,
    clip_writer: ShardWriter,
    crop_writer: ShardWriter | None,
    log: Callable[[str], None],
) -> tuple[list[dict], list[InputClip]]:
    """``(jobs, failed before)``: one job per clip that still needs a record, a crop or a ``.pose`` file, in input
    order, and the clips skipped because they failed in an earlier run (each reported through ``log``)."""
    s = settings
    writers = [w for w in (clip_writer, crop_writer) if w is not None]
    for clip in clips:  # not a failure: the crops still serve pre-training, the text may come from a text manifest
        if clip.split and not clip.text.strip():
            log(
                f"{clip.video}: clip {clip.clip_id!r} of split {clip.split!r} has an empty transcript (kept; "
                "give its text in the manifest, or to training with a text manifest)"
            )
    failed = [c for c in clips if any(c.clip_id in w.failed_keys for w in writers)]
    for clip in failed:
        log(f"{clip.video}: failed in an earlier run (see failures.jsonl; delete its line to retry)")
    preview_dir = None
    if s.preview:
        preview_dir = s.out / "previews"
        preview_dir.mkdir(parents=True, exist_ok=True)
    crop_frames = 0 if crop_writer is None or plan is not None else s.crops_per_clip
    jobs, failed_before = [], {clip.clip_id for clip in failed}
    for clip in clips:
        if clip.clip_id in failed_before:
            continue
        want_clip = not clip_writer.is_done(clip.clip_id)
        want_crops = crop_writer is not None and not crop_writer.is_done(clip.clip_id)
        quota = plan.quota(clip.clip_id) if plan is not None else None
        if quota is not None and not any(quota):
            want_crops = False  # not in the sample: no crop shard key at all
        pose_file = pose_path(s.poses_out, clip.clip_id) if s.poses_out else None
        if pose_file is not None and pose_file.exists():
            pose_file = None
        if want_clip or want_crops or pose_file:
            jobs.append(
                {
                    "clip": clip,
                    "want_clip": want_clip,
                    "want_crops": want_crops,
                    "preview_dir": preview_dir,
                    "clip_records": s.clip_records,
                    "quota": quota,
                    "crop_seed": s.crop_seed,
                    "pose_file": pose_file,
                    "crop_frames": crop_frames if want_crops else 0,
                }
            )
    return jobs, failed


def existing_clip_records(folder: Path) -> str | None:
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
