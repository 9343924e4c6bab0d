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
frame parser can read them instead of running MediaPipe (the landmark layout of
:mod:`signmusketeers.parsing.landmarks`).

Modules: :mod:`~signmusketeers.synthsign.vocabulary` (signs, grammar, splits), :mod:`~signmusketeers.synthsign.figure`
(hands, look, drawing), :mod:`~signmusketeers.synthsign.render` (one clip), :mod:`~signmusketeers.synthsign.write`
(a whole set on disk), :mod:`~signmusketeers.synthsign.face_template` (the 468-point face layout).
"""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "RenderedClip": "signmusketeers.synthsign.render",
    "SynthSignConfig": "signmusketeers.synthsign.render",
    "render_clip": "signmusketeers.synthsign.render",
    "ADJECTIVES": "signmusketeers.synthsign.vocabulary",
    "EXPRESSIONS": "signmusketeers.synthsign.vocabulary",
    "HANDSHAPES": "signmusketeers.synthsign.vocabulary",
    "LOCATIONS": "signmusketeers.synthsign.vocabulary",
    "MOVEMENTS": "signmusketeers.synthsign.vocabulary",
    "NOUNS": "signmusketeers.synthsign.vocabulary",
    "SUBJECTS": "signmusketeers.synthsign.vocabulary",
    "Sentence": "signmusketeers.synthsign.vocabulary",
    "Sign": "signmusketeers.synthsign.vocabulary",
    "TIMES": "signmusketeers.synthsign.vocabulary",
    "VERBS": "signmusketeers.synthsign.vocabulary",
    "VOCABULARY": "signmusketeers.synthsign.vocabulary",
    "assign_splits": "signmusketeers.synthsign.vocabulary",
    "minimal_pairs": "signmusketeers.synthsign.vocabulary",
    "sample_sentence": "signmusketeers.synthsign.vocabulary",
    "split_of_pair": "signmusketeers.synthsign.vocabulary",
    "stream_of_difference": "signmusketeers.synthsign.vocabulary",
    "clip_seed": "signmusketeers.synthsign.write",
    "generate": "signmusketeers.synthsign.write",
    "save_preview": "signmusketeers.synthsign.write",
    "write_npz": "signmusketeers.synthsign.write",
    "write_video": "signmusketeers.synthsign.write",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
