"""``signmusketeers demo``: the whole pipeline on SynthSign, on a CPU, in minutes.

The demo is a thin chain of the public commands a user would run — ``synth`` → ``parse`` → ``fit`` (face and hand
DINOv2 pre-training of tiny ViTs) → ``export`` → ``extract`` → ``tokenizer`` → ``fit`` / ``test`` (translation) →
``translate`` — each printed before it runs so that any step can be repeated by hand. The configs it runs are the
shipped ``configs/demo/*.yaml`` with this run's paths and sizes filled in, written to ``OUT/configs/``. Each step's
output goes to ``OUT/logs/STEP.log``. At the end it prints a summary (stage times, k-NN probe before/after pre-training,
BLEU-1..4 and chrF on the held-out test sentences), writes it as ``OUT/summary.json`` and draws ``OUT/pictures/``.

The encoders and the T5 are small and randomly initialised (the architectures of ViT-S/14-reg4 and T5.1.1, scaled
down), so nothing is downloaded. Every step is seeded and the demo starts from an empty folder, so the same command
writes the same data, shards, encoders and scores every time (only stage times, logs and checkpoints' own paths
differ).
"""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "one_intra_op_thread": "signmusketeers.demo.pipeline",
    "run_demo": "signmusketeers.demo.pipeline",
    "draw_pictures": "signmusketeers.demo.report",
    "print_summary": "signmusketeers.demo.report",
    "write_summary": "signmusketeers.demo.report",
    "CROP_SIZE": "signmusketeers.demo.steps",
    "DEFAULT": "signmusketeers.demo.steps",
    "DEMO_FILES": "signmusketeers.demo.steps",
    "DEMO_FOLDERS": "signmusketeers.demo.steps",
    "Demo": "signmusketeers.demo.steps",
    "DemoSize": "signmusketeers.demo.steps",
    "QUICK": "signmusketeers.demo.steps",
    "configs_dir": "signmusketeers.demo.steps",
    "encoder_width": "signmusketeers.demo.steps",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
