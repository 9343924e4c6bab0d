"""MediaPipe Tasks HolisticLandmarker as a landmark source, from a .task file assembled from the bundled models.

Where mediapipe 0.10.21 is installed (its wheel bundles the Holistic models): the .task file is assembled and the
source refuses to run there (0.10.x's Python HolisticLandmarker aborts the process when a hand goes missing).
Where mediapipe >= 1.2 is installed (Tasks only, numpy 2, Python 3.13): the source runs on a real signing clip, from
the file given in SIGNMUSKETEERS_HOLISTIC_TASK (made with ``write_holistic_task`` where 0.10.21 installs).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from signmusketeers.parsing import FrameParser, MediaPipeTasksHolistic, write_holistic_task
from signmusketeers.parsing.mediapipe_tasks import HOLISTIC_TASK_MODELS, _version_tuple
from tests.parsing.media import portrait, write_video

mp = pytest.importorskip("mediapipe")
TASKS_READY = _version_tuple(mp.__version__) >= (1, 2)
BUNDLED = hasattr(mp, "solutions")


@pytest.fixture(scope="module")
def task_file(tmp_path_factory) -> Path:
    given = os.environ.get("SIGNMUSKETEERS_HOLISTIC_TASK")
    if given:
        return Path(given)
    if not BUNDLED:
        pytest.skip("no bundled Holistic models to assemble a .task from; set SIGNMUSKETEERS_HOLISTIC_TASK")
    return write_holistic_task(tmp_path_factory.mktemp("task") / "holistic_landmarker.task")


@pytest.mark.skipif(not BUNDLED, reason="needs the Holistic models bundled in mediapipe 0.10.21")
def test_a_task_file_is_assembled_from_the_bundled_models(task_file):
    with zipfile.ZipFile(task_file) as bundle:
        assert sorted(bundle.namelist()) == sorted(HOLISTIC_TASK_MODELS)
        for name in bundle.namelist():  # TFLite flatbuffers, each with our metadata (its buffer id "M001")
            data = bundle.read(name)
            assert data[4:8] == b"TFL3" and b"M001" in data
    assert not task_file.with_name(task_file.name + ".partial").exists()


@pytest.mark.skipif(TASKS_READY, reason="mediapipe >= 1.2 runs the Tasks source")
def test_old_mediapipe_is_refused_with_the_reason(task_file, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"needs mediapipe >= 1\.2 \(installed: 0\.10"):
        MediaPipeTasksHolistic(task_file)
    from signmusketeers.cli import main

    video = write_video(tmp_path / "p.mp4", [portrait(160, 188)] * 2, fps=10)
    assert main(["parse", str(video), "--out", str(tmp_path / "clips"), "--landmarks-model", str(task_file)]) == 2
    assert (
        "holistic_landmarker.task: the MediaPipe Tasks HolisticLandmarker needs mediapipe >= 1.2"
        in capsys.readouterr().err
    )


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"none\.task: no such HolisticLandmarker model file"):
        MediaPipeTasksHolistic(tmp_path / "none.task")


@pytest.mark.skipif(not TASKS_READY, reason="the Tasks HolisticLandmarker needs mediapipe >= 1.2")
@pytest.mark.needs_shared_data
def test_tasks_landmarks_on_real_signing(task_file, shared_clips):
    source = MediaPipeTasksHolistic(task_file)
    parser = FrameParser(crop_size=64, stride=2, landmark_source=source)
    clip = parser.parse_video(shared_clips / "signer_blue_screen.mp4")
    parser.close()
    marks = clip.landmarks
    assert len(clip) == 67 and marks.present["pose"].all() and marks.present["face"].mean() > 0.9
    assert marks.face.shape == (67, 468, 2)
    # the signer's own left hand (MediaPipe's convention) is the one at the pose's left wrist (landmark 15)
    for side, wrist in (("left_hand", 15), ("right_hand", 16)):
        both = marks.present[side]
        assert both.mean() > 0.7
        distance = np.linalg.norm(getattr(marks, side)[both, 0] - marks.pose[both, wrist, :2], axis=1)
        other = np.linalg.norm(getattr(marks, side)[both, 0] - marks.pose[both, 16 if wrist == 15 else 15, :2], axis=1)
        assert np.median(distance) < 25 and np.median(distance) < np.median(other)
    assert clip.found[:, 0].mean() > 0.9 and np.isin(clip.provenance[:, 0], (0, 3)).mean() > 0.9  # face landmarks


@pytest.mark.skipif(BUNDLED, reason="this mediapipe bundles the Holistic models")
def test_without_bundled_models_the_default_source_asks_for_a_model_file(tmp_path):
    from signmusketeers.parsing import ParseError

    video = write_video(tmp_path / "p.mp4", [portrait(160, 188)] * 2, fps=10)
    with pytest.raises(ParseError, match=r"p\.mp4: mediapipe 1\.\d+\.\d+ has no bundled Holistic models.*\.task"):
        FrameParser(crop_size=32).parse_video(video)
