"""The 468-point face layout SynthSign draws its cartoon faces from.

SynthSign must write face landmarks in MediaPipe's Face Mesh layout (the indices the parser and privacy masks
rely on: eyes, brows, lips, oval). Rather than invent 468 positions, we take them once from a real frontal
portrait that every install has (matplotlib's ``grace_hopper.jpg``), level the eyes, centre the face oval on the
origin and scale its half-width to 1. The result ships as ``assets/face_template.npy``; :func:`write_face_template`
regenerates it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

TEMPLATE_PATH = Path(__file__).with_name("assets") / "face_template.npy"
REGIONS_PATH = Path(__file__).with_name("assets") / "face_regions.json"


def _index_set(connections) -> np.ndarray:
    return np.array(sorted({i for edge in connections for i in edge}), dtype=np.int64)


@functools.lru_cache(maxsize=1)
def face_regions() -> dict[str, np.ndarray]:
    """Face Mesh landmark indices per region (signer's own left/right): oval, lips, eyes and eyebrows.

    Read from the shipped asset (MediaPipe's connection tables, copied by ``make_face_template``) so that drawing
    a face does not import MediaPipe.
    """
    return {name: np.array(indices, dtype=np.int64) for name, indices in json.loads(REGIONS_PATH.read_text()).items()}


def _mediapipe_face_regions() -> dict[str, np.ndarray]:
    from mediapipe.python.solutions import face_mesh_connections as fmc

    return {
        "oval": _index_set(fmc.FACEMESH_FACE_OVAL),
        "lips": _index_set(fmc.FACEMESH_LIPS),
        "left_eye": _index_set(fmc.FACEMESH_LEFT_EYE),
        "right_eye": _index_set(fmc.FACEMESH_RIGHT_EYE),
        "left_eyebrow": _index_set(fmc.FACEMESH_LEFT_EYEBROW),
        "right_eyebrow": _index_set(fmc.FACEMESH_RIGHT_EYEBROW),
    }


@functools.lru_cache(maxsize=1)
def _template() -> np.ndarray:
    return np.load(TEMPLATE_PATH).astype(np.float32)


def load_face_template() -> np.ndarray:
    """``float32 (468, 2)``: face oval centred on the origin with half-width 1, y down, eyes level."""
    return _template().copy()


def make_face_template() -> np.ndarray:
    """Run MediaPipe Face Mesh on matplotlib's portrait and normalise the 468 points (see the module doc)."""
    import matplotlib.cbook
    import mediapipe as mp
    from PIL import Image

    image = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False) as mesh:
        result = mesh.process(image)
    points = np.array([[p.x * image.shape[1], p.y * image.shape[0]] for p in result.multi_face_landmarks[0].landmark])
    regions = _mediapipe_face_regions()
    left_eye, right_eye = points[regions["left_eye"]].mean(0), points[regions["right_eye"]].mean(0)
    angle = np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    rotation = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    points = points @ rotation.T
    oval = points[regions["oval"]]
    centre = (oval.min(0) + oval.max(0)) / 2
    half_width = (oval[:, 0].max() - oval[:, 0].min()) / 2
    return ((points - centre) / half_width).astype(np.float32)


def write_face_template() -> tuple[Path, Path]:
    """Write ``assets/face_template.npy`` and ``assets/face_regions.json`` again (needs mediapipe's Face Mesh
    connections and matplotlib's sample image); returns their paths."""
    TEMPLATE_PATH.parent.mkdir(exist_ok=True)
    np.save(TEMPLATE_PATH, np.round(make_face_template(), 4))
    REGIONS_PATH.write_text(json.dumps({k: v.tolist() for k, v in _mediapipe_face_regions().items()}) + "\n")
    return TEMPLATE_PATH, REGIONS_PATH
