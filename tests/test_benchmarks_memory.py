"""benchmarks/memory_scale.py: its folders follow the record contracts and its records come from measured peaks."""

import numpy as np
import pytest

from benchmarks import memory_scale
from signmusketeers.data.shard_manifest import ShardManifest
from signmusketeers.data.shards import open_dataset


def test_generated_folders_follow_the_record_contracts(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_OPTIMIZER_CACHE_FOLDER", str(tmp_path / "cache"))
    memory_scale.write_crop_folder(tmp_path / "crops-250", 250)
    memory_scale.write_feature_folder(tmp_path / "features-30", 30)
    memory_scale.write_clip_folder(tmp_path / "clips-5", 5)
    crops = open_dataset(tmp_path / "crops-250", kind="crops")
    assert len(crops) == ShardManifest.read(tmp_path / "crops-250").records == 250
    crop = crops[4]
    assert crop["part"] == "hand" and crop["image"].dtype == np.uint8 and crop["frame"].shape == (1,)
    features = open_dataset(tmp_path / "features-30", kind="features")
    assert len(features) == 30
    clip = features[3]
    assert clip["face"].dtype == np.float16 and clip["face"].shape == (7, memory_scale.FEATURE_DIM)
    assert clip["pose"].shape == (7, 14) and clip["clip_id"] == "clip000003"
    clips = open_dataset(tmp_path / "clips-5", kind="clips")
    assert len(clips) == 5 and clips[0]["split"] == "train" and len(clips[0]["offsets"]) == 2 * 3 + 1


def test_record_is_the_ratio_of_the_two_measured_peaks():
    probes = {
        ("ours", "small"): {"peak": 800.0, "before": 700.0},
        ("ours", "large"): {"peak": 820.0, "before": 700.0},
        ("floor", "small"): {"peak": 750.0, "before": 690.0},
        ("floor", "large"): {"peak": 751.0, "before": 690.0},
    }
    record = memory_scale.scale_record("features", 1000, 10_000, probes, {"small": 1.0, "large": 2.0})
    assert record["ours"] == 820.0 and record["floor"] == 800.0 and record["unit"] == "MiB"
    assert record["ratio"] == pytest.approx(820 / 800) and record["met"] is True  # 1.025 <= 1.05
    measured = record["details"]["measured"]
    assert measured["growth bytes per added record"] == pytest.approx(20 * 2**20 / 9000)
    assert measured["bare litdata ratio"] == pytest.approx(751 / 750)
    assert measured["peak MiB"]["floor large"] == 751.0 and measured["before pass MiB"]["ours small"] == 700.0
    assert "800 → 820 MiB" in record["memory_note"]
    grown = memory_scale.scale_record(
        "features",
        1000,
        10_000,
        {**probes, ("ours", "large"): {"peak": 900.0, "before": 700.0}},
        {"small": 1.0, "large": 2.0},
    )
    assert grown["met"] is False


def test_quick_run_measures_both_sizes_in_fresh_processes():
    (record,) = memory_scale.run(quick=True, kinds=("features",), parallel=4)
    small, large = memory_scale.SIZES["quick"]["features"]
    assert record["name"] == f"ClipFeatureDataModule epoch: peak RSS, {large:,} vs {small:,} feature clips"
    assert record["ratio"] == pytest.approx(record["ours"] / record["floor"])
    assert record["goal"] == {"op": "<=", "value": 1.05}
    measured = record["details"]["measured"]
    peaks, before = measured["peak MiB"], measured["before pass MiB"]
    assert record["ours"] == peaks["ours large"] and record["floor"] == peaks["ours small"]
    # peaks are the measured RSS of real processes: at least what was resident before the pass (torch and all)
    for key, peak in peaks.items():
        assert peak >= before[key] > 100
    assert measured["growth MiB"] == pytest.approx(record["ours"] - record["floor"])
