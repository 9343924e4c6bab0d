"""benchmarks/stream_memory.py: its synthetic signer is segmented as signing, and a short run gives its record."""

import numpy as np
import pytest

from benchmarks import stream_memory


def test_synthetic_body_signs_six_seconds_of_every_nine():
    from signmusketeers.parsing.pose import PoseTracker
    from signmusketeers.subtitles import segment_frames

    body, tracker = stream_memory.SyntheticBody(), PoseTracker()
    body.start_clip("x.mp4", stream_memory.WIDTH, stream_memory.HEIGHT)
    indices = np.arange(0, 27 * stream_memory.FPS, 2)
    pose = np.stack([tracker.update(body(None, int(i)).pose) for i in indices])
    times = indices / stream_memory.FPS
    segments = segment_frames(pose, times, np.ones(len(times), bool), 2 / stream_memory.FPS)
    assert [(round(s.start), round(s.end)) for s in segments] == [(0, 6), (9, 15), (18, 24)]


@pytest.mark.slow
def test_a_short_run_gives_one_record_from_measured_peaks():
    (record,) = stream_memory.run(short_minutes=0.05, long_minutes=0.1)
    assert record["unit"] == "MiB" and record["ours"] > 300 and record["floor"] > 300
    assert record["ratio"] == record["ours"] / record["floor"]
    assert record["details"]["kept_frames"] == {"short": 38, "long": 75}


@pytest.mark.slow
def test_a_short_parse_run_gives_one_record_from_measured_peaks():
    (record,) = stream_memory.run_parse(short_minutes=0.05, long_minutes=0.1, whole_minutes=0.1)
    assert record["unit"] == "MiB" and record["ours"] > 100 and record["floor"] > 100
    assert record["ratio"] == record["ours"] / record["floor"]
    details = record["details"]
    assert details["kept_frames"] == {"short": 38, "long": 75}
    assert 1000 < details["jpeg_bytes_per_kept_frame"] < 3 * 224 * 224 * 3  # JPEGs: far smaller than raw crops
    assert details["whole_clip_peak_mib_long"] > 100
