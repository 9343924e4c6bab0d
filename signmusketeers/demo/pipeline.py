"""Running the whole demo: every step in order on one intra-op thread, then the summary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from signmusketeers.demo.report import write_summary
from signmusketeers.demo.steps import Demo, encoder_width


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Torch runs each operation on one thread inside the block (restored afterwards).

    The demo's networks are tiny (a 64-wide ViT on 56-px crops, a 128-wide T5): each operation is a few
    microseconds of work, and a second intra-op thread on a 2-core machine that also runs a loader worker (and
    other jobs) spends far more time waiting for its partner than computing. Measured on such a machine under load:
    40 demo pre-training steps 63 s → 20 s wall (57 → 17 s of CPU), 30 demo translation steps with one
    validation 37 → 16 s.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_demo(demo: Demo) -> dict[str, Any]:
    """Run every stage and return the summary (also written to ``OUT/summary.json``)."""
    with one_intra_op_thread():
        return _run_stages(demo)


def _run_stages(demo: Demo) -> dict[str, Any]:
    demo.out.mkdir(parents=True, exist_ok=True)
    demo.remove_earlier_run()
    demo.synth()
    demo.parse()
    face = demo.pretrain("face")
    hand = demo.pretrain("hand")
    demo.extract(face, hand)
    demo.tokenizer()
    checkpoint = demo.translate(feature_dim=encoder_width(face))
    translations = demo.translate_heldout(checkpoint)
    return write_summary(demo, checkpoint, translations)
