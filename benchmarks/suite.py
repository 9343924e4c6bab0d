"""The benchmarks `run_all.py` runs, in order: each script's settings, thread count and the prose BENCHMARKS.md gives
it (what ours and the floor do, the goal)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Benchmark:
    name: str  # benchmarks/<name>.py
    title: str
    args: list[str]
    threads: str | None  # OMP_NUM_THREADS for its process; None: unset (the library picks)
    prose: str
    extra: list[str] = field(default_factory=list)


SUITE = [
    Benchmark(
        "parse",
        "Parsing",
        ["--repeats", "3", "--seconds", "3", "--copies", "4", "--workers", "2", "--no-overhead"],
        None,
        "**Ours:** `FrameParser.parse_video` on a clip of `../shared/data/clips`: PyAV decoding (in a prefetch "
        "thread), MediaPipe Holistic, boxes, three 224-px crops and the pose vector per frame. **Floor:** bare "
        "MediaPipe Holistic (`mp.solutions.holistic`, model_complexity=1, video mode) on the same frames, decoded "
        "beforehand. Runs alternate (bare, ours, ours + the JPEG clip record the `parse` command writes); medians. "
        "Goal: ≥ 0.90× the bare frames/s.\n\n"
        "**Scaling:** `signmusketeers parse --workers 2` against `--workers 1` on copies of a clip (stride 1, clip "
        "shards written), against how a pure-Python CPU loop scales from 1 to 2 processes on the same cores (the "
        "ceiling of this machine at this moment). Ratio = our speed-up / the ceiling; goal ≥ 0.9.",
    ),
    Benchmark(
        "pretrain_step",
        "Pre-training step",
        ["--steps", "6", "--pieces"],
        "1",
        "**Ours:** one `DinoV2PretrainModule` training step: masking, teacher forward, Sinkhorn-Knopp targets, "
        "DINO + iBOT + KoLeo losses, backward, per-module gradient clipping, the scheduled AdamW step and the EMA "
        "teacher update. **Floor:** the same student and teacher modules called bare: student forward on the "
        "masked global and the local crops, the head on CLS and masked-patch tokens, backward of a plain sum, "
        "teacher forward on the global crops, one AdamW step. Ours and floor alternate in a shuffled order each "
        "iteration (one warm-up); medians. Goal: ≤ 1.10× the floor's time. The pieces below time, one by one at "
        "the step's sizes, the work a step adds to the floor.",
    ),
    Benchmark(
        "input_pipeline",
        "Pre-training input pipeline",
        ["--steps", "4"],
        "1",
        '**Ours:** `DinoV2PretrainModule` training steps fed by `CropShardDataModule(part="face")` from a crop '
        "shard folder (224-px JPEG crops cut from `../shared/data/clips`): shard read, JPEG decode, the 2 × 224 + "
        '8 × 98 multi-crop views (`augment_on="cpu"`: in one loader worker; `augment_on="device"`: '
        "parameters drawn in the worker, views built after the transfer), collation, transfer. **Floor:** the same "
        "step on one batch already on the device. Floor and both paths alternate, two rounds; medians. Goal: ≥ "
        "0.95× the floor's images/s. The model is a small ViT (64 wide, 2 deep) at Table 7's crop sizes, so that "
        "on this CPU the input pipeline, not the network, sets the pace; the GPU command is in the script's "
        "docstring. **Loader CPU per image:** each input stage timed alone on one thread (CPU time, medians); the "
        "device path's loader work against the CPU path's, goal ≤ 0.1. **Resume position:** "
        "`EndlessPartStream.position` after 10M crops of a part on a synthetic index of 2M crops (no data files) "
        "against re-reading the records as the former resume did (extrapolated from the measured read time per "
        "record, page cache warm: a lower bound); goal < 1 s.",
    ),
    Benchmark(
        "translate_step",
        "Translation training step",
        ["--size", "small", "--batch", "16", "--frames", "100", "--repeats", "12"],
        "1",
        "**Ours:** `TranslationModule` on a padded batch of cached float16 features (`FeatureCollator`): stream "
        "fusion → T5 with `inputs_embeds` → label-smoothed cross-entropy, backward, AdamW step. **Floor:** "
        "`T5ForConditionalGeneration(inputs_embeds=..., attention_mask=..., labels=...)` + backward + AdamW on the "
        "same network with random embeddings of the same shape. Alternating; medians. Goal: ≤ 1.05× the floor's "
        "time. The T5 is a small random one (T5.1.1-Base's step takes minutes on this CPU; the GPU section "
        "measures it); the fusion's four projections, which the floor does not run, are a larger share of this "
        "small T5's step than of T5.1.1-Base's.",
    ),
    Benchmark(
        "extract",
        "Feature extraction",
        ["--clips", "3", "--frames", "16", "--frames-per-batch", "16", "--workers", "1", "--runs", "2"],
        "1",
        "**Ours:** the whole `signmusketeers extract` command on a clip shard folder: shard reading, JPEG decoding "
        "in a loader worker, the face encoder on face crops and the hand encoder on both hand crops, feature-shard "
        "writing. **Floor:** timm `forward_features(x)[:, 0]` of the same ViT-S/14-reg4 (224 px, random weights) "
        "on the same crops, already decoded and normalised in memory, in batches of the same size. Alternating, "
        "best of the runs. Goal: ≥ 0.95× the floor's crops/s.",
    ),
    Benchmark(
        "clip_bytes",
        "Clip shard storage",
        ["--runs", "3"],
        None,
        "`../shared/data/clips/signer_blue_screen.mp4` parsed once with the paper's defaults (MediaPipe Holistic, "
        "224-px crops, stride 2) and its clip record written both ways through `ShardWriter`, as `signmusketeers "
        "parse --clip-records full | boxes` writes it. **Bytes per clip:** ours = the chunk files on disk, floor = "
        "the bytes of the record's fields themselves (JPEG crops at quality 95 in full records; boxes, pose, "
        "provenance, frame indices and times, text and the video path in both); goal ≤ 1.1. **Crops at extract "
        "time**, per kept frame: full records decode their JPEGs; boxes-only records decode the source video with "
        "PyAV and cut the boxes again (`record_crops`), against bare PyAV decoding of the same frames (floor; goal "
        "≤ 1.5). Then the boxes-only / full ratios and the projection to YouTube-ASL (984 h in about 610k clips, "
        "30 fps assumed).",
    ),
    Benchmark(
        "seek",
        "Segments of long videos",
        ["--repeats", "7"],
        None,
        "A 10-minute H.264 video (320x180, 25 fps, B-frames, the shared clips looped) synthesised in the run, once "
        "with a keyframe every 2 s and once every 10 s (x264's default interval). **Ours:** `read_frames` on 5 s "
        "segments near the end, starting on a keyframe and a quarter, half and three quarters of the way to the "
        "next (mean of the four): it seeks to the keyframe before the start and counts frame indices from the "
        "container's index. **Floor:** bare PyAV decoding (to RGB) of the video's first 5 s. Goal ≤ 1.2; what is "
        "left above 1 is the decoding from the keyframe before the start, which grows with the keyframe interval, "
        "not the offset. Times are CPU seconds of the process (decoding threads included), the least of 7 alternating "
        "runs. Printed beside: the same "
        "four starts one keyframe interval into the video, and the end segment decoded from the first frame (as "
        "before seeking).",
    ),
    Benchmark(
        "memory_scale",
        "Memory at scale",
        ["--parallel", "3"],
        "1",
        "Peak resident memory (RSS) of one full pass over a shard folder and over a folder with ten times the "
        "records, each pass alone in a fresh process with loader workers off (all reading in the measured "
        'process). **Crop reader:** `CropShardDataModule(part="hand")` as the pre-training configs use it '
        "(LitData streaming, shuffled, filtered to hand crops), every hand crop JPEG-decoded by the module's "
        "record transform; the multi-crop augmentation is replaced by a plain `to_tensor` (3-7 ms a crop on this "
        "CPU, and it keeps nothing from one crop to the next). **Feature reader:** `ClipFeatureDataModule` train "
        "loader (padding collator, ByT5 tokenisation of the references). **Extract:** the whole `signmusketeers "
        "extract` command with tiny random ViT encoders (embed 32, depth 1, 28 px), writing feature shards. "
        "Records are tiny (16-28 px JPEG crops, 32-d features) and chunks are sized to hold about as many records "
        "as a 64 MB chunk of real ones, so the larger folder has ten times the chunks. In this section's table "
        "*ours* is the peak on the larger folder and *floor* the peak on the smaller one: ratio = growth, goal "
        "≤ 1.05 (ten times the data for at most 5% more memory). The bare `litdata.StreamingDataset` pass over "
        "the same folders (every record read, nothing else) and the RSS before the pass (interpreter and imports) "
        "are given below each row to read the absolute peaks; bytes per added record scale the growth to a "
        "corpus of any size. `extract`'s output chunks are scaled the same way: its writer holds the chunk it is "
        "filling in memory (64 MB, ~400 real feature records, but ~100k of these tiny ones) and writes it out "
        "when full.",
    ),
    Benchmark(
        "posefile",
        ".pose files",
        ["--repeats", "3", "--frames", "3000"],
        None,
        "**Read:** every frame of a 3000-frame `.pose` (pose-format, MediaPipe Holistic layout) from the landmark "
        "source the parse uses (`PoseFileLandmarks`: header and layout checks, frames read in windows of 1024, each "
        "frame's parts as our landmarks) against pose-format's `Pose.read` of the whole file with each frame's "
        "found parts sliced out by hand. **Write:** `write_pose_file` "
        "against the same arrays assembled by hand with numpy and written by `Pose.write`. Goal for both: ≤ 1.5× "
        "the floor's time. **Parse:** `FrameParser.parse_video(video, landmarks=FILE.pose)` against the bare "
        "libraries doing the same work: PyAV decoding, pose-format reading and OpenCV cutting the same three 224-px "
        "crops per frame. Goal: ≥ 0.8× the floor's frames/s. The landmarks are MediaPipe's on a clip of "
        "`../shared/data/clips` (repeated to 3000 frames for the file benchmarks); the details give that MediaPipe "
        "parse's speed, for the speed-up a `.pose` brings.",
    ),
    Benchmark(
        "face_privacy",
        "Face privacy",
        ["--seconds", "2", "--repeats", "5"],
        None,
        "**Ours:** `FrameParser(face_privacy=True)` (what `parse` does by default: all but the eyes and mouth of "
        "each face crop greyed, then blurred) on the first 2 s of a clip of `../shared/data/clips`, its MediaPipe "
        "Holistic landmarks computed once and replayed, so that decoding, boxes, crops and pose are timed alone. "
        "**Floor:** the same with `face_privacy=False`. Alternating runs; medians. Goal: ≤ 1.25× the floor's time "
        "per frame. The second row adds MediaPipe's measured time per frame to both: the whole parse, goal ≤ 1.05×.",
    ),
    Benchmark(
        "stream_memory",
        "Memory of long-video translation and parsing",
        [],
        "1",
        "Peak resident memory of `Translator.translate(video, segments=SegmentOptions())` (what `signmusketeers "
        "translate VIDEO --srt OUT.srt` runs) on a 10-minute and a 1-minute video, each alone in a fresh process: "
        "PyAV decoding (H.264, 25 fps), boxes and three 224-px crops per kept frame (stride 2), encoding in batches "
        "of 32 frames into 384-d float16 features, activity segmentation and one T5 generation per segment. To fit "
        "in a few minutes on 2 cores the video is 128 × 96 px, the landmarks come from a cheap "
        "synthetic source (6 s signing / 3 s rest) instead of MediaPipe, and the encoders are random 384-wide ViTs "
        "with one block and 56-px patches (see the script's docstring). In this section's table *ours* is the peak "
        "on the 10-minute video and *floor* the peak on the 1-minute one: ratio = growth, goal ≤ 1.1. Bare PyAV "
        "decoding of the 10-minute video, and the whole-clip path (parse every crop, then encode) on the 1-minute "
        "video, are given below the row to read the absolute peaks. The second row is `signmusketeers parse VIDEO "
        "--out … --crops-out … --crops-per-clip 16` (one worker, full clip records, face privacy on, the same "
        "synthetic landmarks) on the same two videos: it streams the frames but keeps each kept frame's crops as "
        "JPEG bytes until the clip record is written, so its peak grows with those bytes (given in the details "
        "per frame), not with the raw crops; goal ≤ 2 (holding the raw crops: ≈ 10×).",
    ),
]
