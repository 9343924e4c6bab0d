"""DINOv2's multi-crop augmentation (``dinov2/data/augmentations.py: DataAugmentationDINO``), on PIL images.

Per image: 2 global crops (RandomResizedCrop ``global_size`` px, scale ``global_scale``, bicubic, horizontal flip
0.5) and ``n_local`` local crops (``local_size`` px, ``local_scale``), each then colour-jittered
(brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1 with p 0.8), greyscaled (p 0.2), blurred (kernel 9,
sigma 0.1–2) and, on the second global crop only, solarised (threshold 128, p 0.2); finally ImageNet-normalised.

Blur probabilities are those the official code *applies*: its ``GaussianBlur(p)`` wrapper hands ``1 - p`` to
``RandomApply``, so the configured 1.0 / 0.1 / 0.5 (global 1 / global 2 / local) become 0.0 / 0.9 / 0.5. The
SignMusketeers encoders were trained by that code, so we reproduce what it did, not what its arguments say.

Exact resume: ``MultiCropAugmentation()(image, seed)`` draws every random choice of one image's views from the
torch generator seeded with ``seed`` (the transforms and their distributions are unchanged; the process's global
generator is restored afterwards); :class:`signmusketeers.data.crops.SeededCropDataset` makes that seed from (base
seed, epoch, the sample's global index). A sample's views are then the same whichever process, worker, rank or
prefetch position augments it, so a resumed run sees exactly the views of a straight one.

Horizontal flip and hands: the hand encoder sees left and right hands pooled in one crop set, and a mirrored
left hand is a plausible right hand (and vice versa), so flipping stays inside the training distribution; the
encoder is meant to describe handshape, not handedness (the translator knows which stream is which). Faces are
near-symmetric, so flipping them is as harmless as it is for DINOv2's natural images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from torchvision import transforms as T

from ..seeding import seeded_torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Probabilities the official DataAugmentationDINO applies (see the module docstring for the blur inversion).
BLUR_PROBABILITY = {"global_1": 0.0, "global_2": 0.9, "local": 0.5}
SOLARIZE_PROBABILITY_GLOBAL_2 = 0.2


def _blur(p: float) -> T.RandomApply:
    return T.RandomApply([T.GaussianBlur(kernel_size=9, sigma=(0.1, 2.0))], p=p)


@dataclass
class MultiCropAugmentation:
    """PIL image → ``{"global_crops": [2 × (3, G, G)], "local_crops": [n_local × (3, L, L)]}`` float tensors.

    Table 7: 2 × 224 px with scale (0.5, 1.0), 8 × 98 px with scale (0.25, 0.5).
    """

    global_size: int = 224
    local_size: int = 98
    n_local: int = 8
    global_scale: tuple[float, float] = (0.5, 1.0)
    local_scale: tuple[float, float] = (0.25, 0.5)

    def __post_init__(self) -> None:
        bicubic = T.InterpolationMode.BICUBIC
        self.geometric_global = T.Compose(
            [T.RandomResizedCrop(self.global_size, scale=tuple(self.global_scale), interpolation=bicubic),
             T.RandomHorizontalFlip(p=0.5)]
        )
        self.geometric_local = T.Compose(
            [T.RandomResizedCrop(self.local_size, scale=tuple(self.local_scale), interpolation=bicubic),
             T.RandomHorizontalFlip(p=0.5)]
        )
        colour = T.Compose(
            [T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.8),
             T.RandomGrayscale(p=0.2)]
        )
        normalize = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        self.global_1 = T.Compose([colour, _blur(BLUR_PROBABILITY["global_1"]), normalize])
        self.global_2 = T.Compose(
            [colour, _blur(BLUR_PROBABILITY["global_2"]),
             T.RandomSolarize(threshold=128, p=SOLARIZE_PROBABILITY_GLOBAL_2), normalize]
        )
        self.local = T.Compose([colour, _blur(BLUR_PROBABILITY["local"]), normalize])

    def __call__(self, image: Image.Image, seed: int | None = None) -> dict[str, list[torch.Tensor]]:
        """The views of ``image``; with ``seed``, they depend on nothing else (see the module docstring)."""
        if seed is None:
            return self._views(image)
        with seeded_torch(seed):  # torchvision's transforms draw from torch's global generator
            return self._views(image)

    def _views(self, image: Image.Image) -> dict[str, list[torch.Tensor]]:
        return {
            "global_crops": [self.global_1(self.geometric_global(image)), self.global_2(self.geometric_global(image))],
            "local_crops": [self.local(self.geometric_local(image)) for _ in range(self.n_local)],
        }


def collate_multicrop(samples: list[dict[str, list[torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Stack per-image crops crop-major: ``global_crops (2, B, 3, G, G)``, ``local_crops (n_local, B, 3, L, L)``."""
    return {
        key: torch.stack([torch.stack([sample[key][i] for sample in samples]) for i in range(len(samples[0][key]))])
        for key in ("global_crops", "local_crops")
    }
