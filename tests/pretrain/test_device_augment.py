"""The on-device multi-crop (``augment_on="device"``) against the CPU path (``MultiCropAugmentation``).

The two paths draw from different generators (torch's on the CPU path, NumPy's for the device path), so a seed gives
different views on each; what must agree is every transform's *distribution*. "Match" here: for each continuous
parameter (crop scale and aspect ratio, jitter factors, blur sigma) a two-sample Kolmogorov-Smirnov test between the
CPU path's draws, recorded from torchvision's own ``get_params`` while the CPU path augments real images, and the
device path's draws does not reject at the 0.001 level; for each probability (flip, jitter, greyscale, blur,
solarise, per view kind) both observed frequencies lie within 4.5 binomial standard deviations of the configured
value and of each other. With 320-1280 draws per parameter, a wrong range (e.g. scale 0.3-0.5 instead of
0.25-0.5) or a wrong probability (0.5 instead of 0.2) fails by far (``test_the_comparison_has_power``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image
from scipy.stats import ks_2samp

from signmusketeers.pretrain import augment
from signmusketeers.pretrain.augment import (
    BLUR_PROBABILITY,
    DeviceMultiCrop,
    MultiCropAugmentation,
    collate_device_views,
    draw_view_params,
)
from tests.pretrain.conftest import shape_image

SIZE, N_IMAGES, N_LOCAL = 64, 160, 8
KINDS = ["global_1", "global_2"] + ["local"] * N_LOCAL


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small images: more threads only add overhead on a shared CPU
    yield
    torch.set_num_threads(threads)


def _images(n: int = N_IMAGES, size: int = SIZE) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [shape_image(i % 4, rng, size) for i in range(n)]


class _Recorder:
    """Records what torchvision's transforms draw and apply on the CPU path, tagged with the view kind."""

    def __init__(self, monkeypatch) -> None:
        self.kind = None
        self.events: list[tuple[str, str, object]] = []
        record = self.events.append

        def wrap_static(cls, name, what):
            original = getattr(cls, name)

            def wrapper(*args, **kwargs):
                value = original(*args, **kwargs)
                record((self.kind, what, value))
                return value

            monkeypatch.setattr(cls, name, staticmethod(wrapper))

        def wrap_function(name):
            original = getattr(TF, name)

            def wrapper(*args, **kwargs):
                record((self.kind, name, None))
                return original(*args, **kwargs)

            monkeypatch.setattr(TF, name, wrapper)

        wrap_static(T.RandomResizedCrop, "get_params", "box")
        wrap_static(T.ColorJitter, "get_params", "jitter")
        wrap_static(T.GaussianBlur, "get_params", "blur")
        for name in ("hflip", "rgb_to_grayscale", "solarize"):
            wrap_function(name)

    def tag(self, kind: str, function):
        def tagged(image):
            self.kind = kind
            return function(image)

        return tagged


@pytest.fixture(scope="module")
def draws():
    """(CPU path's recorded draws, device path's draws) for the same images, by view kind."""
    mp = pytest.MonkeyPatch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small images: threads only add overhead
    try:
        recorder = _Recorder(mp)
        cpu = MultiCropAugmentation(32, 16, N_LOCAL)
        # The geometric step of a global view runs before its colour step: tag both
        cpu.geometric_global = recorder.tag("global", cpu.geometric_global)
        cpu.geometric_local = recorder.tag("local", cpu.geometric_local)
        for kind in ("global_1", "global_2", "local"):
            setattr(cpu, kind, recorder.tag(kind, getattr(cpu, kind)))
        for i, image in enumerate(_images()):
            cpu(Image.fromarray(image), seed=i)
        events = recorder.events
    finally:
        mp.undo()
        torch.set_num_threads(threads)
    device = [draw_view_params(10_000 + i, SIZE, SIZE, N_LOCAL) for i in range(N_IMAGES)]
    return events, device


def _cpu_boxes(events, kind):
    return np.asarray([value[2:] for k, what, value in events if what == "box" and k == kind], float)  # (h, w)


def _device_boxes(device, views):
    return np.concatenate([p["box"][views, 2:] for p in device])


def _scale_ratio(hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return hw[:, 0] * hw[:, 1] / SIZE**2, hw[:, 1] / hw[:, 0]


def _same_distribution(a, b, name) -> None:
    assert len(a) >= 250 and len(b) >= 250, name
    assert ks_2samp(a, b).pvalue > 1e-3, (name, np.mean(a), np.mean(b))


def _same_probability(cpu_hits: int, device_hits: int, trials: int, p: float, name: str) -> None:
    sd = math.sqrt(max(p * (1 - p), 1e-12) / trials)
    for hits in (cpu_hits, device_hits):
        assert abs(hits / trials - p) <= 4.5 * sd + 1e-12, (name, hits / trials, p)
    assert abs(cpu_hits - device_hits) / trials <= 4.5 * math.sqrt(2) * sd + 1e-12, name


def test_crop_scale_and_aspect_ratio_distributions_match(draws) -> None:
    events, device = draws
    for kind, views, scale in (("global", slice(0, 2), (0.5, 1.0)), ("local", slice(2, None), (0.25, 0.5))):
        cpu_scale, cpu_ratio = _scale_ratio(_cpu_boxes(events, kind))
        dev_scale, dev_ratio = _scale_ratio(_device_boxes(device, views))
        _same_distribution(cpu_scale, dev_scale, f"{kind} scale")
        _same_distribution(cpu_ratio, dev_ratio, f"{kind} aspect ratio")
        # within the configured ranges, up to the rounding of h and w to pixels
        assert scale[0] - 0.03 < dev_scale.min() and dev_scale.max() < scale[1] + 0.03
        assert 0.7 < dev_ratio.min() and dev_ratio.max() < 1.4
        boxes = np.concatenate([p["box"][views] for p in device])
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= SIZE).all()
        assert (boxes[:, 1] + boxes[:, 3] <= SIZE).all()


def test_jitter_factors_order_and_blur_sigma_distributions_match(draws) -> None:
    events, device = draws
    cpu_jitter = [value for _, what, value in events if what == "jitter"]
    dev = [p for params in device for p in zip(params["jitter"], params["factors"], params["order"])]
    dev_factors = np.asarray([f for applied, f, _ in dev if applied])
    for column, name in enumerate(("brightness", "contrast", "saturation", "hue")):
        _same_distribution(np.asarray([v[column + 1] for v in cpu_jitter]), dev_factors[:, column], name)
    # the random order: each operation first equally often on both paths
    cpu_first = np.bincount([int(v[0][0]) for v in cpu_jitter], minlength=4) / len(cpu_jitter)
    dev_first = np.bincount([int(o[0]) for applied, _, o in dev if applied], minlength=4) / len(dev_factors)
    assert np.abs(cpu_first - 0.25).max() < 0.03 and np.abs(dev_first - 0.25).max() < 0.03
    cpu_sigma = [value for _, what, value in events if what == "blur"]
    dev_sigma = np.concatenate([p["sigma"][p["blur"]] for p in device])
    _same_distribution(np.asarray(cpu_sigma), dev_sigma, "blur sigma")


def test_probabilities_match(draws) -> None:
    events, device = draws
    per_kind = {"global_1": 1, "global_2": 1, "local": N_LOCAL}

    def cpu_count(what, kind):
        return sum(1 for k, w, _ in events if w == what and k == kind)

    def dev_count(key, kind):
        views = [i for i, k in enumerate(KINDS) if k == kind]
        return int(sum(p[key][views].sum() for p in device))

    for kind, views in per_kind.items():
        trials = N_IMAGES * views
        _same_probability(cpu_count("jitter", kind), dev_count("jitter", kind), trials, 0.8, f"jitter {kind}")
        _same_probability(
            cpu_count("rgb_to_grayscale", kind), dev_count("grayscale", kind), trials, 0.2, f"greyscale {kind}"
        )
        _same_probability(
            cpu_count("blur", kind), dev_count("blur", kind), trials, BLUR_PROBABILITY[kind], f"blur {kind}"
        )
        solarize = 0.2 if kind == "global_2" else 0.0
        _same_probability(
            cpu_count("solarize", kind), dev_count("solarize", kind), trials, solarize, f"solarise {kind}"
        )
    # flips: the geometric step is shared by both global views
    for kind, views in (("global", slice(0, 2)), ("local", slice(2, None))):
        trials = N_IMAGES * (2 if kind == "global" else N_LOCAL)
        dev_flips = int(sum(p["flip"][views].sum() for p in device))
        _same_probability(cpu_count("hflip", kind), dev_flips, trials, 0.5, f"flip {kind}")


def test_the_comparison_has_power(draws) -> None:
    events, device = draws
    wrong = [draw_view_params(20_000 + i, SIZE, SIZE, N_LOCAL, local_scale=(0.3, 0.5)) for i in range(N_IMAGES)]
    with pytest.raises(AssertionError):
        _same_distribution(
            _scale_ratio(_cpu_boxes(events, "local"))[0],
            _scale_ratio(_device_boxes(wrong, slice(2, None)))[0],
            "local scale",
        )
    with pytest.raises(AssertionError):
        _same_probability(int(0.2 * 3000), int(0.5 * 3000), 3000, 0.2, "greyscale")


def _batch(seeds, images=None, size=SIZE):
    images = images if images is not None else _images(len(seeds), size)
    samples = [
        {
            "image": torch.from_numpy(im).permute(2, 0, 1).contiguous(),
            "params": draw_view_params(s, size, size, N_LOCAL),
        }
        for s, im in zip(seeds, images)
    ]
    return collate_device_views(samples)


def test_views_values_and_layout() -> None:
    batch = _batch(range(6))
    views = DeviceMultiCrop(32, 16, N_LOCAL)(batch["images"], batch["params"])
    assert views["global_crops"].shape == (2, 6, 3, 32, 32) and views["local_crops"].shape == (N_LOCAL, 6, 3, 16, 16)
    mean, std = torch.tensor(augment.IMAGENET_MEAN).view(3, 1, 1), torch.tensor(augment.IMAGENET_STD).view(3, 1, 1)
    for crops in views.values():
        pixels = crops * std + mean  # back to [0, 1]
        assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
        assert crops.dtype == torch.float32 and torch.isfinite(crops).all()


def test_view_pixel_statistics_match_the_cpu_path() -> None:
    images = _images(60)
    cpu = MultiCropAugmentation(32, 16, N_LOCAL)
    cpu_views = [cpu(Image.fromarray(im), seed=i) for i, im in enumerate(images)]
    device = DeviceMultiCrop(32, 16, N_LOCAL)(*(lambda b: (b["images"], b["params"]))(_batch(range(60), images)))
    for key in ("global_crops", "local_crops"):
        cpu_stack = torch.stack([torch.stack(v[key]) for v in cpu_views])  # (B, V, 3, S, S)
        dev_stack = device[key].transpose(0, 1)
        # per-image channel means: the same distribution (KS), and the same overall spread
        cpu_means, dev_means = cpu_stack.mean((1, 3, 4)), dev_stack.mean((1, 3, 4))
        for channel in range(3):
            _same_distribution_small(cpu_means[:, channel].numpy(), dev_means[:, channel].numpy(), key)
        assert abs(float(cpu_stack.std() / dev_stack.std()) - 1) < 0.1, key


def _same_distribution_small(a, b, name) -> None:
    assert ks_2samp(a, b).pvalue > 1e-3, (name, a.mean(), b.mean())


def test_seeded_views_are_reproducible_and_independent_of_the_batch() -> None:
    augmentation = DeviceMultiCrop(32, 16, N_LOCAL)
    batch = _batch([5, 6, 7, 8])
    first = augmentation(batch["images"], batch["params"])
    again = augmentation(_batch([5, 6, 7, 8])["images"], _batch([5, 6, 7, 8])["params"])
    alone = _batch([7], [_images(4)[2]])
    single = augmentation(alone["images"], alone["params"])
    for key in first:
        assert torch.equal(first[key], again[key])
        torch.testing.assert_close(single[key][:, 0], first[key][:, 2], rtol=0, atol=1e-5)
    other = _batch([50, 6, 7, 8])
    assert not torch.allclose(
        augmentation(other["images"], other["params"])["local_crops"][:, 0], first["local_crops"][:, 0]
    )


def test_datamodule_device_path_batches(crop_shards) -> None:
    from signmusketeers.pretrain import CropShardDataModule

    kwargs = dict(
        part="face", batch_size=8, num_workers=0, global_crops_size=56, local_crops_size=28, n_local_crops=2, seed=1
    )
    batches = {}
    for name, extra in (("images", {}), ("jpegs", {"decode_on_device": True})):
        data = CropShardDataModule(str(crop_shards[0]), augment_on="device", **kwargs, **extra)
        data.setup("fit")
        raw = next(iter(data.train_dataloader()))
        assert name in raw and raw["params"]["box"].shape == (8, 4, 4)
        moved = data.transfer_batch_to_device(raw, torch.device("cpu"), 0)
        batches[name] = data.on_after_batch_transfer(moved, 0)
        assert batches[name]["global_crops"].shape == (2, 8, 3, 56, 56)
        assert batches[name]["local_crops"].shape == (2, 8, 3, 28, 28)
    # decoded by OpenCV in the worker or by torchvision's decode_jpeg: the same pixels up to IDCT rounding
    torch.testing.assert_close(batches["images"]["global_crops"], batches["jpegs"]["global_crops"], rtol=0, atol=0.15)
    with pytest.raises(ValueError, match="decode_on_device needs"):
        CropShardDataModule(str(crop_shards[0]), decode_on_device=True)


@pytest.mark.gpu
def test_device_path_on_cuda_matches_cpu() -> None:
    batch = _batch(range(16), size=224)
    augmentation = DeviceMultiCrop()
    on_cpu = augmentation(batch["images"], batch["params"])
    on_cuda = augmentation.to("cuda")(batch["images"].cuda(), batch["params"])
    for key in on_cpu:
        assert on_cuda[key].is_cuda
        torch.testing.assert_close(on_cuda[key].cpu(), on_cpu[key], rtol=0, atol=2e-3)


@pytest.mark.gpu
def test_decode_on_device_with_nvjpeg(crop_shards) -> None:
    from signmusketeers.pretrain import CropShardDataModule

    data = CropShardDataModule(
        str(crop_shards[0]),
        part="face",
        batch_size=8,
        num_workers=0,
        global_crops_size=56,
        local_crops_size=28,
        n_local_crops=2,
        augment_on="device",
        decode_on_device=True,
    )
    data.setup("fit")
    raw = next(iter(data.train_dataloader()))
    views = data.on_after_batch_transfer(data.transfer_batch_to_device(raw, torch.device("cuda"), 0), 0)
    assert views["global_crops"].is_cuda and views["global_crops"].shape == (2, 8, 3, 56, 56)
