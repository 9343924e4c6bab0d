"""SynthSign's language: the signs of its 40 words, the sentence grammar and the held-out splits.

Each word is one sign, defined by five parameters (:class:`Sign`): the right hand's shape, the left hand's shape, the
right hand's location and movement, and the facial expression. Some words differ *only* in one of them
(:func:`minimal_pairs`). Train/val/test hold out verb-noun *combinations*, never words (:func:`split_of_pair`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

HANDSHAPES = ("fist", "flat", "point", "v", "spread", "y", "l")
EXPRESSIONS = ("neutral", "brows_up", "brows_down", "mouth_open", "smile")
LOCATIONS = ("temple", "chin", "chest", "neutral", "side", "shoulder")
MOVEMENTS = ("hold", "up_down", "side_to_side", "circle")


@dataclass(frozen=True)
class Sign:
    """The five parameters that define one word's sign."""

    right: str  # right-hand handshape (HANDSHAPES)
    left: str  # left-hand handshape (HANDSHAPES)
    location: str  # right-hand location (LOCATIONS)
    movement: str  # right-hand movement (MOVEMENTS)
    face: str  # facial expression (EXPRESSIONS)


# word -> sign. The comments name the minimal pairs: words whose signs differ in one parameter only.
VOCABULARY: dict[str, Sign] = {
    # subjects
    "I": Sign("point", "flat", "chest", "hold", "neutral"),
    "you": Sign("point", "flat", "neutral", "hold", "neutral"),  # I/you: location only
    "we": Sign("point", "flat", "chest", "circle", "neutral"),  # I/we: movement only
    "they": Sign("point", "flat", "side", "side_to_side", "neutral"),
    "mother": Sign("spread", "flat", "chin", "hold", "neutral"),
    "father": Sign("spread", "flat", "temple", "hold", "neutral"),  # mother/father: location only
    "teacher": Sign("flat", "flat", "temple", "up_down", "brows_up"),
    "friend": Sign("l", "fist", "neutral", "circle", "smile"),
    # verbs
    "see": Sign("v", "flat", "temple", "side_to_side", "neutral"),
    "like": Sign("l", "flat", "chest", "up_down", "smile"),
    "want": Sign("spread", "spread", "neutral", "up_down", "neutral"),
    "have": Sign("flat", "spread", "chest", "hold", "neutral"),
    "need": Sign("point", "fist", "neutral", "up_down", "brows_down"),
    "make": Sign("fist", "fist", "neutral", "circle", "neutral"),
    "find": Sign("y", "flat", "neutral", "side_to_side", "brows_up"),
    "love": Sign("fist", "flat", "chest", "hold", "smile"),
    # adjectives
    "big": Sign("l", "l", "neutral", "side_to_side", "mouth_open"),
    "small": Sign("l", "l", "neutral", "side_to_side", "brows_down"),  # big/small: face only
    "red": Sign("point", "fist", "chin", "up_down", "neutral"),
    "blue": Sign("v", "fist", "chin", "up_down", "neutral"),  # red/blue: right hand only
    "new": Sign("flat", "flat", "neutral", "side_to_side", "brows_up"),
    "old": Sign("fist", "fist", "chin", "up_down", "neutral"),
    "happy": Sign("flat", "fist", "chest", "circle", "smile"),
    "sad": Sign("flat", "fist", "chest", "circle", "brows_down"),  # happy/sad: face only
    # nouns
    "house": Sign("flat", "flat", "neutral", "up_down", "neutral"),
    "car": Sign("fist", "fist", "neutral", "side_to_side", "neutral"),
    "book": Sign("flat", "y", "neutral", "hold", "neutral"),
    "ball": Sign("flat", "v", "neutral", "hold", "neutral"),  # book/ball: left hand only
    "dog": Sign("v", "point", "side", "up_down", "neutral"),
    "cat": Sign("v", "l", "side", "up_down", "neutral"),  # dog/cat: left hand only
    "apple": Sign("y", "fist", "chin", "circle", "neutral"),
    "tree": Sign("spread", "point", "shoulder", "side_to_side", "neutral"),
    # times
    "today": Sign("y", "y", "neutral", "up_down", "neutral"),
    "now": Sign("y", "y", "neutral", "hold", "brows_up"),
    "again": Sign("point", "flat", "neutral", "circle", "mouth_open"),
    "often": Sign("point", "flat", "neutral", "circle", "brows_up"),  # again/often: face only
    "always": Sign("point", "spread", "shoulder", "circle", "neutral"),
    "sometimes": Sign("point", "spread", "temple", "circle", "neutral"),  # always/sometimes: location only
    "every day": Sign("spread", "l", "chin", "side_to_side", "neutral"),
    "at night": Sign("fist", "l", "shoulder", "up_down", "neutral"),
}

SUBJECTS = {
    "I": "I",
    "you": "you",
    "we": "we",
    "they": "they",
    "mother": "my mother",
    "father": "my father",
    "teacher": "the teacher",
    "friend": "my friend",
}
VERBS = ("see", "like", "want", "have", "need", "make", "find", "love")
ADJECTIVES = ("big", "small", "red", "blue", "new", "old", "happy", "sad")
NOUNS = ("house", "car", "book", "ball", "dog", "cat", "apple", "tree")
TIMES = ("today", "now", "again", "often", "always", "sometimes", "every day", "at night")
SPLIT_SEED = 20240  # fixed: every SynthSign set, whatever its seed, holds out the same verb-noun pairs


def stream_of_difference(a: Sign, b: Sign) -> str | None:
    """Which translation stream tells two signs apart when they differ in exactly one of them, else None.

    Streams: "face" (expression), "left" / "right" (handshapes), "pose" (location or movement).
    """
    differs = {
        "face": a.face != b.face,
        "left": a.left != b.left,
        "right": a.right != b.right,
        "pose": a.location != b.location or a.movement != b.movement,
    }
    changed = [stream for stream, different in differs.items() if different]
    return changed[0] if len(changed) == 1 else None


def minimal_pairs() -> dict[str, list[tuple[str, str]]]:
    """Word pairs whose signs differ in a single stream, grouped by that stream."""
    words = list(VOCABULARY)
    pairs: dict[str, list[tuple[str, str]]] = {"face": [], "left": [], "right": [], "pose": []}
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            stream = stream_of_difference(VOCABULARY[a], VOCABULARY[b])
            if stream is not None:
                pairs[stream].append((a, b))
    return pairs


# ------------------------------------------------------------------------------------------------ sentences


@dataclass(frozen=True)
class Sentence:
    """One sentence of the grammar: subject, verb, adjective, noun and an optional time."""

    subject: str
    verb: str
    adjective: str
    noun: str
    time: str | None

    @property
    def signs(self) -> list[str]:
        """Sign order (time first, adjective after the noun), as sign languages often have it."""
        return ([self.time] if self.time else []) + [self.subject, self.verb, self.noun, self.adjective]

    @property
    def text(self) -> str:
        """The English sentence, capitalised, with a full stop."""
        verb = (
            self.verb
            if self.subject in ("I", "you", "we", "they")
            else self.verb + ("s" if self.verb != "have" else "")
        )
        if self.subject not in ("I", "you", "we", "they") and self.verb == "have":
            verb = "has"
        words = f"{SUBJECTS[self.subject]} {verb} the {self.adjective} {self.noun}" + (
            f" {self.time}" if self.time else ""
        )
        return words[0].upper() + words[1:] + "."


@functools.lru_cache(maxsize=1)
def _pair_splits() -> dict[tuple[str, str], str]:
    pairs = [(v, n) for v in VERBS for n in NOUNS]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(pairs))
    n_heldout = round(0.1 * len(pairs))
    rank = np.argsort(order)  # rank[i]: position of pair i in the shuffled order
    return {
        pair: "test" if rank[i] < n_heldout else "val" if rank[i] < 2 * n_heldout else "train"
        for i, pair in enumerate(pairs)
    }


def split_of_pair(verb: str, noun: str) -> str:
    """The split a verb-noun combination belongs to (80/10/10 over the 64 pairs, fixed by SPLIT_SEED)."""
    return _pair_splits()[(verb, noun)]


def sample_sentence(rng: np.random.Generator, split: str) -> Sentence:
    """A random sentence whose verb-noun pair belongs to ``split``."""
    pairs = [pair for pair, pair_split in _pair_splits().items() if pair_split == split]
    verb, noun = pairs[rng.integers(len(pairs))]
    time = TIMES[rng.integers(len(TIMES))] if rng.random() < 0.5 else None
    return Sentence(
        subject=list(SUBJECTS)[rng.integers(len(SUBJECTS))],
        verb=verb,
        adjective=ADJECTIVES[rng.integers(len(ADJECTIVES))],
        noun=noun,
        time=time,
    )


def assign_splits(n_clips: int) -> list[str]:
    """10% val, 10% test (at least one each from 3 clips on), the rest train, interleaved."""
    if n_clips < 3:
        return ["train"] * n_clips
    n_small = max(1, round(0.1 * n_clips))
    splits = ["train"] * n_clips
    for k in range(n_small):  # spread held-out clips over the set rather than putting them last
        splits[(k * n_clips) // n_small + n_clips // (2 * n_small)] = "test"
        splits[(k * n_clips) // n_small + max(0, n_clips // (2 * n_small) - 1)] = "val"
    return splits
