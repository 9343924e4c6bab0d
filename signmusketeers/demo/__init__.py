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

from signmusketeers.demo.pipeline import one_intra_op_thread, run_demo
from signmusketeers.demo.report import draw_pictures, print_summary, write_summary
from signmusketeers.demo.steps import (
    CROP_SIZE,
    DEFAULT,
    DEMO_FILES,
    DEMO_FOLDERS,
    QUICK,
    Demo,
    DemoSize,
    configs_dir,
    encoder_width,
)

__all__ = [
    "CROP_SIZE",
    "DEFAULT",
    "DEMO_FILES",
    "DEMO_FOLDERS",
    "QUICK",
    "Demo",
    "DemoSize",
    "configs_dir",
    "draw_pictures",
    "encoder_width",
    "one_intra_op_thread",
    "print_summary",
    "run_demo",
    "write_summary",
]
