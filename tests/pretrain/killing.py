"""A callback that stands in for a killed job, for the resume tests (also imported by ``ddp_resume.py``, which runs
as a script beside this file)."""

from lightning.pytorch import Callback


class Killed(RuntimeError):
    pass


class KillAt(Callback):
    """Raises :class:`Killed` before training step ``step`` on every rank (after that step's checkpoint)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise Killed(f"killed before step {self.step}")
