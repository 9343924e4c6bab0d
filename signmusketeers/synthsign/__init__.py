"""SynthSign: the embedded synthetic signing dataset generator.

A cartoon signer (face with eyes, brows and mouth; torso; two arms; two hands) signs English sentences from a small
grammar. Each word is one sign, defined by the five parameters in :data:`VOCABULARY`:

* the right (dominant) hand's handshape  → only visible in the right-hand crop,
* the left (base) hand's handshape       → only visible in the left-hand crop,
* the right hand's location and movement → only visible in the pose (wrist and elbow trajectories),
* the facial expression                  → only visible in the face crop.

Some words differ *only* in the face, some only in one hand's shape, some only in location (see
:func:`minimal_pairs`), so every stream of the translation model carries information that no other stream has.
Train/val/test hold out word *combinations* (verb-noun pairs), never words.

Everything is deterministic per seed: the same ``synth --out DIR --clips N --seed S`` writes byte-identical files.
Landmarks are written in MediaPipe Holistic layout (33 pose, 468 face, 21 per hand) in pixel coordinates, so the
frame parser can read them instead of running MediaPipe (the landmark layout of :mod:`signmusketeers.parsing.landmarks`).

Modules: :mod:`~signmusketeers.synthsign.vocabulary` (signs, grammar, splits), :mod:`~signmusketeers.synthsign.figure`
(hands, look, drawing), :mod:`~signmusketeers.synthsign.render` (one clip), :mod:`~signmusketeers.synthsign.write`
(a whole set on disk), :mod:`~signmusketeers.synthsign.face_template` (the 468-point face layout).
"""

from signmusketeers.synthsign.render import RenderedClip, SynthSignConfig, render_clip
from signmusketeers.synthsign.vocabulary import (
    ADJECTIVES,
    EXPRESSIONS,
    HANDSHAPES,
    LOCATIONS,
    MOVEMENTS,
    NOUNS,
    SUBJECTS,
    TIMES,
    VERBS,
    VOCABULARY,
    Sentence,
    Sign,
    assign_splits,
    minimal_pairs,
    sample_sentence,
    split_of_pair,
    stream_of_difference,
)
from signmusketeers.synthsign.write import clip_seed, generate, save_preview, write_npz, write_video

__all__ = [
    "ADJECTIVES", "EXPRESSIONS", "HANDSHAPES", "LOCATIONS", "MOVEMENTS", "NOUNS", "SUBJECTS", "TIMES", "VERBS",
    "VOCABULARY", "RenderedClip", "Sentence", "Sign", "SynthSignConfig", "assign_splits", "clip_seed", "generate",
    "minimal_pairs", "render_clip", "sample_sentence", "save_preview", "split_of_pair", "stream_of_difference",
    "write_npz", "write_video",
]
