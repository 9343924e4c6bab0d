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
generator is restored afterwards); :class:`signmusketeers.pretrain.datamodule.SeededCropDataset` makes that seed
from (base seed, epoch, the sample's global index). A sample's views are then the same whichever process, worker,
rank or prefetch position augments it, so a resumed run sees exactly the views of a straight one.

Horizontal flip and hands: the hand encoder sees left and right hands pooled in one crop set, and a mirrored
left hand is a plausible right hand (and vice versa), so flipping stays inside the training distribution; the
encoder is meant to describe handshape, not handedness (the translator knows which stream is which). Faces are
near-symmetric, so flipping them is as harmless as it is for DINOv2's natural images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from signmusketeers.constants import IMAGENET_MEAN, IMAGENET_STD
from signmusketeers.seeding import seeded_torch

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
            [
                T.RandomResizedCrop(self.global_size, scale=tuple(self.global_scale), interpolation=bicubic),
                T.RandomHorizontalFlip(p=0.5),
            ]
        )
        self.geometric_local = T.Compose(
            [
                T.RandomResizedCrop(self.local_size, scale=tuple(self.local_scale), interpolation=bicubic),
                T.RandomHorizontalFlip(p=0.5),
            ]
        )
        colour = T.Compose(
            [
                T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.8),
                T.RandomGrayscale(p=0.2),
            ]
        )
        normalize = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        self.global_1 = T.Compose([colour, _blur(BLUR_PROBABILITY["global_1"]), normalize])
        self.global_2 = T.Compose(
            [
                colour,
                _blur(BLUR_PROBABILITY["global_2"]),
                T.RandomSolarize(threshold=128, p=SOLARIZE_PROBABILITY_GLOBAL_2),
                normalize,
            ]
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


# ---------------------------------------------------------------------------------------------- on the device
#
# The same views built batched on the accelerator: loader workers decode each crop and draw its random parameters
# (cheap, seeded by the crop's seed), and :class:`DeviceMultiCrop` applies them to the whole batch on the device.
# The parameters follow the CPU path's distributions (torchvision's RandomResizedCrop.get_params and
# ColorJitter.get_params, the same probabilities); they are drawn from NumPy's generator rather than torch's, so a
# seed gives different (equally distributed) views on the two paths, and the same views on every run of one path.

RESIZED_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # RandomResizedCrop's default aspect-ratio range
JITTER = (0.4, 0.4, 0.2, 0.1)  # brightness, contrast, saturation, hue (ColorJitter above)
JITTER_PROBABILITY = 0.8
GRAYSCALE_PROBABILITY = 0.2
BLUR_SIGMA = (0.1, 2.0)
BLUR_KERNEL = 9
SOLARIZE_THRESHOLD = 128


def resized_crop_boxes(
    rng: np.random.Generator,
    height: int,
    width: int,
    scales: np.ndarray,
    ratio: tuple[float, float] = RESIZED_CROP_RATIO,
    attempts: int = 10,
) -> np.ndarray:
    """``(V, 4)`` boxes (top, left, h, w) of random resized crops, one per row of ``scales`` ``(V, 2)``:
    torchvision's ``RandomResizedCrop.get_params`` (up to ten tries of a uniform area fraction and a log-uniform
    aspect ratio, the first that fits; else the central crop), all tries drawn at once from ``rng``."""
    views = len(scales)
    area = height * width
    log_ratio = np.log(ratio)
    target_area = area * rng.uniform(scales[:, :1], scales[:, 1:], (views, attempts))
    aspect = np.exp(rng.uniform(log_ratio[0], log_ratio[1], (views, attempts)))
    w = np.round(np.sqrt(target_area * aspect)).astype(np.int64)
    h = np.round(np.sqrt(target_area / aspect)).astype(np.int64)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.argmax(1)
    rows = np.arange(views)
    h, w = h[rows, first], w[rows, first]
    # the central crop where no try fits (torchvision's fallback)
    in_ratio = width / height
    if in_ratio < min(ratio):
        fallback = (width, int(round(width / min(ratio))))
    elif in_ratio > max(ratio):
        fallback = (int(round(height * max(ratio))), height)
    else:
        fallback = (width, height)
    none = ~fits.any(1)
    w[none], h[none] = fallback
    top = rng.integers(0, height - h + 1)
    left = rng.integers(0, width - w + 1)
    top[none], left[none] = (height - h[none]) // 2, (width - w[none]) // 2
    return np.stack([top, left, h, w], 1).astype(np.float32)


def draw_view_params(
    seed: int,
    height: int,
    width: int,
    n_local: int = 8,
    global_scale: tuple[float, float] = (0.5, 1.0),
    local_scale: tuple[float, float] = (0.25, 0.5),
) -> dict[str, np.ndarray]:
    """Every random choice of one image's ``2 + n_local`` views (global 1, global 2, locals), from ``seed`` alone.

    Returns arrays with the view on the first axis: ``box (V, 4)`` (top, left, h, w in pixels), ``flip``,
    ``jitter`` (applied or not), ``factors (V, 4)`` (brightness, contrast, saturation, hue), ``order (V, 4)`` (the
    jitter operations' random order, as ColorJitter), ``grayscale``, ``blur``, ``sigma``, ``solarize``.
    """
    rng = np.random.default_rng(seed)
    views = 2 + n_local
    scales = np.asarray([global_scale] * 2 + [local_scale] * n_local, dtype=np.float64)
    blur_p = np.asarray(
        [BLUR_PROBABILITY["global_1"], BLUR_PROBABILITY["global_2"]] + [BLUR_PROBABILITY["local"]] * n_local
    )
    low = np.asarray([1 - JITTER[0], 1 - JITTER[1], 1 - JITTER[2], -JITTER[3]])
    high = np.asarray([1 + JITTER[0], 1 + JITTER[1], 1 + JITTER[2], JITTER[3]])
    uniform = rng.random((views, 5))  # flip, jitter, greyscale, blur, solarise
    solarize = np.zeros(views, bool)
    solarize[1] = uniform[1, 4] < SOLARIZE_PROBABILITY_GLOBAL_2  # second global crop only
    return {
        "box": resized_crop_boxes(rng, height, width, scales),
        "flip": uniform[:, 0] < 0.5,
        "jitter": uniform[:, 1] < JITTER_PROBABILITY,
        "factors": rng.uniform(low, high, (views, 4)).astype(np.float32),
        "order": rng.permuted(np.tile(np.arange(4), (views, 1)), axis=1),
        "grayscale": uniform[:, 2] < GRAYSCALE_PROBABILITY,
        "blur": uniform[:, 3] < blur_p,
        "sigma": rng.uniform(BLUR_SIGMA[0], BLUR_SIGMA[1], views).astype(np.float32),
        "solarize": solarize,
    }


def collate_device_views(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack per-crop ``{"image": uint8 (3, H, W), "params": draw_view_params(...)}`` (or ``"jpeg"`` bytes instead
    of ``"image"``) into ``{"images": (B, 3, H, W) | "jpegs": [B × bytes], "params": {name: (B, V, ...)}}``."""
    batch: dict[str, Any] = {
        "params": {key: torch.from_numpy(np.stack([s["params"][key] for s in samples])) for key in samples[0]["params"]}
    }
    if "jpeg" in samples[0]:
        batch["jpegs"] = [s["jpeg"] for s in samples]
        return batch
    shapes = {tuple(s["image"].shape) for s in samples}
    if len(shapes) > 1:
        raise ValueError(
            f"crops of different sizes in one batch ({sorted(shapes)}): augment_on='device' needs "
            "one crop size per folder"
        )
    batch["images"] = torch.stack([s["image"] for s in samples])
    return batch


def _blend(image: torch.Tensor, other: torch.Tensor | float, ratio: torch.Tensor) -> torch.Tensor:
    # torchvision's _blend with one ratio per image
    ratio = ratio.view(-1, 1, 1, 1)
    return (image * ratio + other * (1 - ratio)).clamp_(0, 1)


def _brightness(image: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(image, 0.0, factor)


def _contrast(image: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    mean = F.rgb_to_grayscale(image).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(image, mean, factor)


def _saturation(image: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    return _blend(image, F.rgb_to_grayscale(image), factor)


def _hue(image: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # torchvision's adjust_hue with one shift per image (its HSV conversions, which take a batch)
    from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

    h, s, v = _rgb_to_hsv(image).unbind(dim=-3)
    h = (h + factor.view(-1, 1, 1)).remainder_(1.0)
    return _hsv_to_rgb(torch.stack((h, s, v), dim=-3))


_JITTER_OPS = (_brightness, _contrast, _saturation, _hue)  # ColorJitter's operation numbers


def _gaussian_blur(image: torch.Tensor, sigma: torch.Tensor, kernel_size: int = BLUR_KERNEL) -> torch.Tensor:
    """torchvision's ``gaussian_blur`` (same kernel, reflect padding) with one sigma per image: a grouped conv."""
    n, c, height, width = image.shape
    x = torch.linspace(-(kernel_size // 2), kernel_size // 2, kernel_size, device=image.device)
    kernel = torch.exp(-0.5 * (x[None] / sigma[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n·c, k)
    pad = kernel_size // 2
    flat = torch.nn.functional.pad(image.reshape(1, n * c, height, width), (pad, pad, pad, pad), mode="reflect")
    flat = torch.nn.functional.conv2d(flat, kernel[:, None, None, :], groups=n * c)
    flat = torch.nn.functional.conv2d(flat, kernel[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, height, width)


class DeviceMultiCrop(torch.nn.Module):
    """Batched multi-crop on any device: uint8 images ``(B, 3, H, W)`` and their parameters
    (:func:`draw_view_params`, stacked by :func:`collate_device_views`) → ``{"global_crops": (2, B, 3, G, G),
    "local_crops": (n_local, B, 3, L, L)}``, ImageNet-normalised float32, as :class:`MultiCropAugmentation` +
    :func:`collate_multicrop` give.

    Each view: crop and resize (``torchvision.ops.roi_align``: all crops of a size in one call; bilinear, averaging
    several samples per output pixel where the crop is larger than the output, i.e. antialiased, where the CPU path
    resizes bicubically), flip, colour jitter in the drawn order (torchvision's formulas, one factor per image),
    greyscale, Gaussian blur (kernel 9), solarise (threshold 128 of 255), normalise. A view depends only on its
    image and parameters, never on the rest of the batch. Which views get an operation is decided on the CPU (the
    parameters stay there), so no step waits on the device to find out.
    """

    def __init__(self, global_size: int = 224, local_size: int = 98, n_local: int = 8) -> None:
        super().__init__()
        self.global_size, self.local_size, self.n_local = global_size, local_size, n_local
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from torchvision.ops import roi_align

        device = images.device
        params = {key: value.cpu() for key, value in params.items()}
        batch, views = params["flip"].shape
        if views != 2 + self.n_local:
            raise ValueError(f"parameters for {views} views, expected 2 + {self.n_local}")
        image = images.float().div_(255)
        out = {}
        for name, first, count, size in (
            ("global_crops", 0, 2, self.global_size),
            ("local_crops", 2, self.n_local, self.local_size),
        ):
            picked = {
                key: value[:, first : first + count].transpose(0, 1).reshape(count * batch, *value.shape[2:])
                for key, value in params.items()
            }  # view-major: (count·B, ...)
            top, left, h, w = picked["box"].unbind(1)
            rois = torch.stack([torch.arange(batch).repeat(count).float(), left, top, left + w, top + h], 1)
            crops = roi_align(image, rois.to(device, non_blocking=True), (size, size), 1.0, -1, True)
            out[name] = self._colour(crops, picked).view(count, batch, 3, size, size)
        return out

    def _colour(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        device = x.device

        def where(mask: torch.Tensor) -> torch.Tensor | None:
            index = torch.nonzero(mask).flatten()
            return index.to(device, non_blocking=True) if len(index) else None

        def apply(mask: torch.Tensor, function, *args: torch.Tensor) -> None:
            index = where(mask)
            if index is not None:
                x[index] = function(x[index], *(a[mask].to(device, non_blocking=True) for a in args))

        apply(p["flip"], lambda v: v.flip(-1))
        for step in range(4):  # ColorJitter: the four operations in the view's own random order
            for op, function in enumerate(_JITTER_OPS):
                apply(p["jitter"] & (p["order"][:, step] == op), function, p["factors"][:, op])
        apply(p["grayscale"], lambda v: F.rgb_to_grayscale(v, num_output_channels=3))
        apply(p["blur"], _gaussian_blur, p["sigma"])
        threshold = SOLARIZE_THRESHOLD / 255
        apply(p["solarize"], lambda v: torch.where(v >= threshold, 1 - v, v))
        return (x - self.mean) / self.std
