"""GPU-hours of the paper's full YT→H2S recipe, projected from measured per-GPU throughputs.

The paper reports 880 GPU-hours for YT→H2S. The recipe, in the units the GPU benchmark measures:

- pre-training (Table 7, §5): 2 encoders (face, hand) × 5 effective epochs over 1M crops each; one "image" is one
  crop seen as 2 global (224 px) + 8 local (98 px) views, which is what the pre-training images/s counts;
- extraction: every frame of YouTube-ASL and How2Sign at stride 2 (§5), 3 crops a frame (face, left, right hand),
  through frozen ViT-S/14 encoders (crops/s);
- translation (Table 8): 5000 steps on YouTube-ASL + 5000 on How2Sign, batch 16 per GPU × 8 GPUs (s/step at
  batch 16 on one GPU).

- validation (Table 8: validate every 500 steps): beam search (5 beams, up to 128 tokens) over the How2Sign
  validation split at each validation of both translation stages (seconds per clip on one GPU).

The pre-training throughput to pass is the end-to-end one (steps fed by the crop loader, ``benchmarks/gpu.py`` via
``benchmarks/input_pipeline.py``), so the input pipeline is included. GPU-hours = work / per-GPU throughput / 3600,
i.e. multi-GPU scaling is assumed linear. Parsing (MediaPipe, CPU) is not GPU work and is not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PAPER_GPU_HOURS = 880.0  # SignMusketeers, YT→H2S (the paper)


@dataclass(frozen=True)
class Recipe:
    """The amounts of work in the YT→H2S recipe; every field is an input of :func:`project_gpu_hours`."""

    encoders: int = 2  # DINOv2-F and DINOv2-H
    pretrain_crops_per_encoder: int = 1_000_000  # §5: 1M crops per encoder
    pretrain_effective_epochs: float = 5.0  # §5: 5 effective epochs
    # Hours of video (not in the paper): YouTube-ASL 984 h (Uthus et al., 2023); How2Sign "more than 80 h"
    # (Duarte et al., 2021).
    video_hours: dict[str, float] = field(default_factory=lambda: {"YouTube-ASL": 984.0, "How2Sign": 80.0})
    fps: float = 30.0  # assumed for both datasets (YouTube videos vary)
    frame_stride: int = 2  # §5 / Table 8: frame stride 2
    crops_per_frame: int = 3  # face, left hand, right hand
    translation_steps: tuple[int, ...] = (5000, 5000)  # Table 8: YT 5000 steps, then +5000 on How2Sign
    translation_gpus: int = 8  # Table 8: batch 16 per GPU × 8 GPUs
    validate_every: int = 500  # Table 8: validate (and save) every 500 steps
    # How2Sign's validation split (Duarte et al., 2021: 1,741 sentences), scored in both stages
    validation_clips: int = 1741

    @property
    def pretrain_images(self) -> float:
        return self.encoders * self.pretrain_crops_per_encoder * self.pretrain_effective_epochs

    @property
    def extraction_frames(self) -> float:
        return sum(self.video_hours.values()) * 3600 * self.fps / self.frame_stride

    @property
    def extraction_crops(self) -> float:
        return self.extraction_frames * self.crops_per_frame

    @property
    def translation_gpu_steps(self) -> int:
        return sum(self.translation_steps) * self.translation_gpus

    @property
    def validations(self) -> int:
        return sum(steps // self.validate_every for steps in self.translation_steps)

    @property
    def validation_clip_generations(self) -> int:
        return self.validations * self.validation_clips


def project_gpu_hours(
    pretrain_images_per_s: float,
    extract_crops_per_s: float,
    translate_step_s: float | None = None,
    recipe: Recipe = Recipe(),
    validate_clip_s: float | None = None,
) -> dict[str, Any]:
    """GPU-hours per stage and in total from per-GPU throughputs.

    Args:
        pretrain_images_per_s: pre-training images (2 global + 8 local crops each) per second on one GPU.
        extract_crops_per_s: frozen-encoder crops per second on one GPU.
        translate_step_s: seconds per translation step at batch 16 on one GPU; ``None`` leaves translation out
            (``"translate"`` is then ``None`` and ``"total"`` covers pre-training and extraction only).
        recipe: the amounts of work.
        validate_clip_s: seconds of beam search per validation clip on one GPU; ``None`` leaves validation out
            (``"validate"`` is then ``None``).

    Returns:
        ``{"pretrain", "extract", "translate", "validate", "total"}`` in GPU-hours, ``"paper"`` (880),
        ``"total_vs_paper"`` (total / 880) and ``"inputs"`` (the recipe and the throughputs).
    """
    for name, value in (("pretrain_images_per_s", pretrain_images_per_s), ("extract_crops_per_s", extract_crops_per_s),
                        ("translate_step_s", translate_step_s), ("validate_clip_s", validate_clip_s)):  # fmt: skip
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    pretrain = recipe.pretrain_images / pretrain_images_per_s / 3600
    extract = recipe.extraction_crops / extract_crops_per_s / 3600
    translate = None if translate_step_s is None else recipe.translation_gpu_steps * translate_step_s / 3600
    validate = None if validate_clip_s is None else recipe.validation_clip_generations * validate_clip_s / 3600
    total = pretrain + extract + (translate or 0.0) + (validate or 0.0)
    return {
        "pretrain": pretrain,
        "extract": extract,
        "translate": translate,
        "validate": validate,
        "total": total,
        "paper": PAPER_GPU_HOURS,
        "total_vs_paper": total / PAPER_GPU_HOURS,
        "inputs": {
            "recipe": asdict(recipe),
            "pretrain_images": recipe.pretrain_images,
            "extraction_frames": recipe.extraction_frames,
            "extraction_crops": recipe.extraction_crops,
            "translation_gpu_steps": recipe.translation_gpu_steps,
            "pretrain_images_per_s": pretrain_images_per_s,
            "extract_crops_per_s": extract_crops_per_s,
            "translate_step_s": translate_step_s,
            "validation_clip_generations": recipe.validation_clip_generations,
            "validate_clip_s": validate_clip_s,
        },
    }


def formula(recipe: Recipe = Recipe()) -> list[str]:
    """The projection written out with the recipe's numbers, throughputs left as symbols (for a machine with
    no GPU to measure them on)."""
    hours = " + ".join(f"{h:g} h ({name})" for name, h in recipe.video_hours.items())
    return [
        f"pre-training = {recipe.encoders} encoders x {recipe.pretrain_effective_epochs:g} effective epochs x "
        f"{recipe.pretrain_crops_per_encoder:,} crops = {recipe.pretrain_images:,.0f} images / P / 3600",
        f"extraction   = ({hours}) x 3600 s x {recipe.fps:g} fps / stride {recipe.frame_stride} x "
        f"{recipe.crops_per_frame} crops = {recipe.extraction_crops:,.0f} crops / E / 3600",
        f"translation  = ({' + '.join(str(s) for s in recipe.translation_steps)}) steps x "
        f"{recipe.translation_gpus} GPUs = {recipe.translation_gpu_steps:,} GPU-steps x S / 3600",
        f"validation   = {recipe.validations} validations (every {recipe.validate_every} steps) x "
        f"{recipe.validation_clips:,} clips = {recipe.validation_clip_generations:,} clips x V / 3600",
        "GPU-hours    = pre-training + extraction + translation + validation",
        "where P = pre-training images/s on one GPU fed by the crop loader (end to end), E = extraction crops/s on "
        "one GPU, S = seconds per translation step at batch 16 on one GPU, V = seconds of beam search per "
        "validation clip on one GPU",
    ]
