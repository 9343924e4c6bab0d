"""Peak memory of the streaming readers and of ``extract`` as the corpus grows ten-fold.

At YouTube-ASL scale (600k clips, 1M + 1M crops) a reader whose memory grows per record (an index of every sample,
a list of all clip ids, a per-sample cache) runs out of memory long before the disk does. Each comparison runs one
full pass, in a fresh process, over a small folder and over a folder with ten times the records, and compares the
two peak RSS:

* **crop reader** (pre-training): ``CropShardDataModule(part="hand").train_dataloader()`` as the pre-training
  configs use it (LitData ``StreamingDataset``, shuffled, filtered to the hand crops by ``EndlessPartStream``)
  for one pass over a crop shard folder, every hand crop JPEG-decoded by the module's ``CropRecordTransform``;
  the multi-crop augmentation is swapped for a plain ``to_tensor`` of the decoded crop (it costs 3-7 ms a crop on
  a 2-core CPU, 10+ minutes for 100k crops, and holds nothing from one record to the next);
* **feature reader** (translation): ``ClipFeatureDataModule(train=...).train_dataloader()`` (padding collator and
  ByT5 tokenisation of the references) over a feature shard folder;
* **extract**: the whole ``signmusketeers extract`` command (tiny random ViT encoders, as its tests use) over a clip
  shard folder, writing feature shards.

Ratio = peak RSS on the large folder / peak RSS on the small one; goal ≤ 1.05: ten times the records for at most
5% more memory, about 40 MiB over the ~800 MiB that torch and Lightning make resident before any reading: a
margin RSS noise (a few MiB) does not reach and ~500 bytes per record over the 90k crops added would exceed.
The growth in bytes per added record is reported beside it, to project to a corpus of any size. The same pass of
bare ``litdata.StreamingDataset`` (every record read, nothing else) over the same two folders is the floor that
makes the absolute peaks readable; the RSS before the pass (interpreter and imports) is reported too. Loader workers
are off (``num_workers=0``) so that all the reading happens in the measured process. Records are tiny (16-28 px
crops, 32-d features), and chunks are sized to hold about as many records as a 64 MB chunk of real records does, so
the large folder has ten times the chunks, as a ten-times larger real corpus would.

    PYTHONPATH=. python benchmarks/memory_scale.py            # 10k vs 100k crops, 5k vs 50k features, 1k vs 10k clips
    PYTHONPATH=. python benchmarks/memory_scale.py --quick    # small sizes, for tests

``run()`` returns the figures as records (``benchmarks/common.py``); ``--json OUT`` writes them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, peak_rss_mib, print_results, result, write_json

GOAL = goal("<=", 1.05)  # ten times the records may cost at most 5% more peak memory

CROP_PX = 16  # crop shards: tiny JPEGs, so that 100k of them are written in seconds
CLIP_CROP_PX = 28  # clip shards: the extract tests' crop and encoder size
FEATURE_DIM = 32
ENCODER_SHAPE = {"img_size": CLIP_CROP_PX, "embed_dim": 32, "depth": 1, "num_heads": 2}
# Chunk sizes that hold about as many tiny records as LitData's 64 MB chunk holds real ones: ~4k 224-px crops
# (~16 KB each), ~400 feature clips (~75 frames x 3 x 384 float16), ~20 clips of JPEG crops (~75 frames x 3 crops).
CHUNK_BYTES = {"crops": 3_000_000, "features": 400_000, "clips": 100_000}

SIZES = {  # kind: (small, large) record counts
    "full": {"crops": (10_000, 100_000), "features": (5_000, 50_000), "clips": (1_000, 10_000)},
    "quick": {"crops": (300, 3_000), "features": (200, 2_000), "clips": (20, 200)},
}


# --------------------------------------------------------------------------------------------- folders


def write_crop_folder(folder: Path, records: int, seed: int = 0) -> None:
    """A crop shard folder (crop records of signmusketeers.formats.records) of ``records`` tiny JPEG crops, 100 per
    clip."""
    from signmusketeers.data.shards import ShardWriter
    from signmusketeers.formats.records import encode_jpeg

    rng = np.random.default_rng(seed)
    jpegs = [encode_jpeg(rng.integers(0, 256, (CROP_PX, CROP_PX, 3), dtype=np.uint8)) for _ in range(97)]
    sides = ("face", "left", "right")
    with ShardWriter(
        folder, "crops", {"command": "benchmarks/memory_scale.py"}, chunk_bytes=CHUNK_BYTES["crops"]
    ) as writer:
        for start in range(0, records, 100):
            clip_id = f"clip{start // 100:06d}"
            writer.write(
                clip_id,
                [
                    {
                        "image": jpegs[index % len(jpegs)],
                        "part": "face" if index % 3 == 0 else "hand",
                        "side": sides[index % 3],
                        "clip_id": clip_id,
                        "frame": np.array([index - start]),
                    }
                    for index in range(start, min(start + 100, records))
                ],
            )
        writer.finish()


def write_feature_folder(folder: Path, clips: int, seed: int = 0) -> None:
    """A feature shard folder (feature records of signmusketeers.formats.records) of ``clips`` short clips (4-11
    frames, 32-d)."""
    from signmusketeers.data.shards import ShardWriter

    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((64, 12, FEATURE_DIM)).astype(np.float16)
    pose = rng.random((12, 14)).astype(np.float32)
    with ShardWriter(
        folder, "features", {"command": "benchmarks/memory_scale.py"}, chunk_bytes=CHUNK_BYTES["features"]
    ) as writer:
        for index in range(clips):
            frames = 4 + index % 8
            clip_id = f"clip{index:06d}"
            writer.write(
                clip_id,
                [
                    {
                        "face": pool[index % 64, :frames],
                        "left": pool[(index + 1) % 64, :frames],
                        "right": pool[(index + 2) % 64, :frames],
                        "pose": pose[:frames],
                        "text": f"sentence number {index}",
                        "clip_id": clip_id,
                    }
                ],
            )
        writer.finish()


def write_clip_folder(folder: Path, clips: int, frames: int = 2, seed: int = 0) -> None:
    """A clip shard folder (clip records, as ``parse`` writes them) of ``clips`` clips of ``frames`` frames, train
    split."""
    from signmusketeers.data.shards import ShardWriter
    from signmusketeers.formats.records import pack_jpegs

    rng = np.random.default_rng(seed)
    packed = [
        pack_jpegs(list(rng.integers(0, 256, (frames * 3, CLIP_CROP_PX, CLIP_CROP_PX, 3), dtype=np.uint8)))
        for _ in range(31)
    ]
    with ShardWriter(
        folder, "clips", {"command": "benchmarks/memory_scale.py"}, chunk_bytes=CHUNK_BYTES["clips"]
    ) as writer:
        for index in range(clips):
            data, offsets = packed[index % len(packed)]
            clip_id = f"clip{index:06d}"
            writer.write(
                clip_id,
                [
                    {
                        "crops": data,
                        "offsets": offsets,
                        "pose": rng.random((frames, 14)).astype(np.float32),
                        "provenance": np.zeros((frames, 3), np.uint8),
                        "frames": np.arange(frames) * 2,
                        "fps": np.array([25.0], np.float32),
                        "text": f"sentence {index}",
                        "split": "train",
                        "clip_id": clip_id,
                    }
                ],
            )
        writer.finish()


def write_encoders(root: Path) -> None:
    from signmusketeers.pretrain.encoder import build_encoder, save_encoder

    save_encoder(build_encoder(seed=1, **ENCODER_SHAPE), root / "face")
    save_encoder(build_encoder(seed=2, **ENCODER_SHAPE), root / "hand")


RECORDS = {
    "crops": f"{CROP_PX} px JPEG crops",
    "features": f"4-11 frames x {FEATURE_DIM}-d float16 features",
    "clips": f"2 frames x 3 JPEG crops of {CLIP_CROP_PX} px",
}
WRITERS = {"crops": write_crop_folder, "features": write_feature_folder, "clips": write_clip_folder}


# --------------------------------------------------------------------------------------------- measured work


class DecodedViews:
    """Stand-in for ``MultiCropAugmentation`` (module doc): the decoded crop as its views, for the same constructor
    arguments and call (``views(image)``, or ``views(image, seed)`` where the views are seeded per crop)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, image: Any, seed: int | None = None) -> dict[str, list[Any]]:
        from torchvision.transforms.functional import to_tensor

        view = to_tensor(image)
        return {"global_crops": [view, view], "local_crops": [view]}


def _crop_reader(folder: str) -> Callable[[], int]:
    """The configs' path (``configs/pretrain/hand.yaml``: ``part: hand``): one pass over the folder's hand crops."""
    import itertools

    from signmusketeers.pretrain import augment
    from signmusketeers.pretrain.datamodule import CropShardDataModule

    augment.MultiCropAugmentation = DecodedViews  # what CropShardDataModule.setup builds its record transform with
    module = CropShardDataModule(folder, part="hand", batch_size=100, num_workers=0)
    module.setup("fit")
    loader = module.train_dataloader()
    hands = sum(1 for index in range(len(module.dataset.dataset)) if index % 3)  # write_crop_folder's layout
    batches = hands // module.batch_size  # the stream is endless: stop at the end of the first pass
    return lambda: sum(len(batch["global_crops"][0]) for batch in itertools.islice(loader, batches))


def _feature_reader(folder: str) -> Callable[[], int]:
    from signmusketeers.translate.datamodule import ClipFeatureDataModule

    module = ClipFeatureDataModule(train=folder, batch_size=16, num_workers=0)
    loader = module.train_dataloader()
    return lambda: sum(len(batch["clip_id"]) for batch in loader)


def _extract(folder: str) -> Callable[[], int]:
    import functools

    from signmusketeers.cli import main as cli_main
    from signmusketeers.translate import extract

    # The command's writer buffers the output chunk it is filling: 64 MB, ~400 real feature records, but ~100k of
    # these tiny ones. Its chunks get the feature folders' scaled size, so that the buffer holds as many records as
    # with real features and what grows per clip beyond it shows.
    extract.ShardWriter = functools.partial(extract.ShardWriter, chunk_bytes=CHUNK_BYTES["features"])

    root = Path(folder).parent
    out = Path(tempfile.mkdtemp(prefix="features-", dir=root))

    def work() -> int:
        code = cli_main(
            [
                "extract",
                folder,
                "--face-encoder",
                str(root / "face.safetensors"),
                "--hand-encoder",
                str(root / "hand.safetensors"),
                "--out",
                str(out),
                "--frames-per-batch",
                "64",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        if code != 0:
            raise RuntimeError(f"extract exited with {code}")
        return 0

    return work


def _bare_litdata(folder: str) -> Callable[[], int]:
    from litdata import StreamingDataset

    dataset = StreamingDataset(folder, shuffle=True, drop_last=True)
    return lambda: sum(1 for _ in dataset)


def kind_of(folder: str) -> str:
    return Path(folder).name.split("-")[0]


OURS = {"crops": _crop_reader, "features": _feature_reader, "clips": _extract}


def memory_side(side: str, folder: str) -> Callable[[], int]:
    """Memory probe (``benchmarks.common.peak_rss_mib``): one full pass of ``side`` ("ours" or "floor") over
    ``folder``; the same imports on both sides, so that the RSS before the pass is comparable."""
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(Path(folder).parent / "cache"))
    import lightning  # noqa: F401  (both sides carry the imports every reader of the library carries)
    import torch

    torch.set_num_threads(1)
    make = OURS[kind_of(folder)] if side == "ours" else _bare_litdata
    return make(folder)


# --------------------------------------------------------------------------------------------- the benchmark

NAMES = {
    "crops": ("CropShardDataModule (part: hand) pass", "crops"),
    "features": ("ClipFeatureDataModule epoch", "feature clips"),
    "clips": ("signmusketeers extract", "clips"),
}


def run(
    quick: bool = False, kinds: tuple[str, ...] = ("crops", "features", "clips"), parallel: int = 3
) -> list[dict[str, Any]]:
    """Peak RSS of ours and the bare floor over a small and a ten-times larger folder of each kind."""
    sizes = SIZES["quick" if quick else "full"]
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(root / "cache"))
    results, plans = [], []
    try:
        write_encoders(root)
        for kind in kinds:
            small, large = sizes[kind]
            folders, write_seconds = {}, {}
            for label, count in (("small", small), ("large", large)):
                folders[label] = root / f"{kind}-{count}"
                started = time.perf_counter()
                WRITERS[kind](folders[label], count)
                write_seconds[label] = time.perf_counter() - started
            plans.append((kind, small, large, folders, write_seconds))
        # Every probe is its own process; a few at a time (peak RSS is per process, so they do not disturb each
        # other's figure, only the wall time).
        jobs = {
            (kind, side, label): str(folders[label])
            for kind, _, _, folders, _ in plans
            for label in ("small", "large")
            for side in ("floor", "ours")
        }
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {
                key: pool.submit(peak_rss_mib, "benchmarks.memory_scale:memory_side", side=key[1], folder=folder)
                for key, folder in jobs.items()
            }
            probes = {key: future.result() for key, future in futures.items()}
        for kind, small, large, _, write_seconds in plans:
            mine = {
                (side, label): probes[kind, side, label] for side in ("floor", "ours") for label in ("small", "large")
            }
            results.append(scale_record(kind, small, large, mine, write_seconds))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def scale_record(
    kind: str, small: int, large: int, probes: dict[tuple[str, str], dict[str, float]], write_seconds: dict[str, float]
) -> dict[str, Any]:
    """One result: ours = our peak on the large folder, floor = our peak on the small one (ratio = growth)."""
    reader, unit = NAMES[kind]
    ours_small, ours_large = probes["ours", "small"]["peak"], probes["ours", "large"]["peak"]
    bare_small, bare_large = probes["floor", "small"]["peak"], probes["floor", "large"]["peak"]
    growth_mib = ours_large - ours_small
    note = (
        f"ours {ours_small:.0f} → {ours_large:.0f} MiB ({growth_mib:+.1f} MiB, "
        f"{growth_mib * 2**20 / (large - small):+.1f} bytes per added record); bare litdata.StreamingDataset "
        f"pass over the same folders {bare_small:.0f} → {bare_large:.0f} MiB "
        f"(ratio {bare_large / bare_small:.3f}); "
        f"resident before the pass (interpreter and imports): ours "
        f"{probes['ours', 'small']['before']:.0f} / {probes['ours', 'large']['before']:.0f} MiB, bare "
        f"{probes['floor', 'small']['before']:.0f} / {probes['floor', 'large']['before']:.0f} MiB "
        "(small / large); each pass alone in a fresh process, loader workers off"
    )
    return result(
        f"{reader}: peak RSS, {large:,} vs {small:,} {unit}",
        ours_large,
        ours_small,
        "MiB",
        GOAL,
        settings={
            "small": f"{small:,} {unit}",
            "large": f"{large:,} {unit}",
            "chunk size": f"{CHUNK_BYTES[kind] / 1e6:g} MB",
            "records": RECORDS[kind],
        },
        memory_note=note,
        # Nested, so that the rendered report shows the note above once; the JSON keeps every number.
        details={
            "measured": {
                "growth MiB": growth_mib,
                "growth bytes per added record": growth_mib * 2**20 / (large - small),
                "peak MiB": {f"{side} {label}": probes[side, label]["peak"] for side, label in probes},
                "before pass MiB": {f"{side} {label}": probes[side, label]["before"] for side, label in probes},
                "bare litdata ratio": bare_large / bare_small,
                "seconds writing folder": write_seconds,
            }
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds of data), for tests")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(NAMES),
        default=list(NAMES),
        help="which readers to measure (crops, features, clips = extract)",
    )
    parser.add_argument("--parallel", type=int, default=3, help="probe processes at a time")
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    results = run(args.quick, tuple(args.only), args.parallel)
    print_results(results)
    for r in results:
        print(f"  {r['memory_note']}")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
