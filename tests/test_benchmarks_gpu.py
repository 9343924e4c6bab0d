"""benchmarks/gpu.py's code on small models on the CPU (the real figures need a CUDA device)."""

import pytest


@pytest.mark.slow
def test_gpu_benchmark_code_runs_on_cpu_with_tiny_models():
    from benchmarks import gpu

    figures = gpu.run("cpu", tiny=True, steps=1)
    names = [r["name"] for r in figures["results"]]
    assert names == [
        "pre-training step (GPU, bf16)",
        "pre-training step (GPU, bf16, compile_losses)",
        "extraction encoder (GPU, bf16)",
        "translation step (GPU, fp32)",
        "pre-training fed end to end (GPU, bf16, augment_on='device')",
        "validation beam search (GPU, fp32)",
    ]
    assert all(r["ours"] > 0 and r["floor"] > 0 for r in figures["results"])
    hours = figures["projection"]
    assert hours["total"] == pytest.approx(
        hours["pretrain"] + hours["extract"] + hours["translate"] + hours["validate"]
    )
    # the projection's pre-training rate is the end-to-end one (loader included), validation is counted
    assert hours["inputs"]["pretrain_images_per_s"] == figures["results"][4]["ours"]
    assert hours["inputs"]["validate_clip_s"] == figures["results"][5]["ours"]


@pytest.mark.gpu
def test_gpu_benchmark_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from benchmarks import gpu

    figures = gpu.run("cuda", steps=3)
    assert figures["results"][0]["settings"]["batch per GPU"] in gpu.PRETRAIN_BATCHES
    assert figures["projection"]["total"] > 0
