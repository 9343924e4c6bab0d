"""What every benchmark shares: the result record, goals, peak-memory probes and the machine description.

A benchmark compares *ours* (what the library does) with its *floor* (the bare library call that does the same
essential work), both measured in the same run, interleaved, so that load from other processes on shared cores
hits both alike. Each benchmark module exposes ``run(...) -> list[dict]``, one :func:`result` per comparison, and
stays runnable on its own (``python benchmarks/<name>.py``; ``--json PATH`` writes the records).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def goal(op: str, value: float) -> dict[str, Any]:
    """A goal on the ratio ours / floor: ``goal(">=", 0.9)`` (throughput) or ``goal("<=", 1.05)`` (time)."""
    if op not in (">=", "<="):
        raise ValueError(f"goal operator must be '>=' or '<=', got {op!r}")
    return {"op": op, "value": value}


def goal_met(ratio: float, target: dict[str, Any]) -> bool:
    return ratio >= target["value"] if target["op"] == ">=" else ratio <= target["value"]


def result(
    name: str,
    ours: float,
    floor: float,
    unit: str,
    target: dict[str, Any],
    settings: dict[str, Any],
    peak_mib: dict[str, float | None] | None = None,
    memory_note: str = "",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One comparison: ``ratio = ours / floor`` (both in ``unit``) checked against ``target``."""
    ratio = ours / floor
    return {
        "name": name,
        "ours": ours,
        "floor": floor,
        "unit": unit,
        "ratio": ratio,
        "goal": target,
        "met": goal_met(ratio, target),
        "peak_mib": peak_mib or {"ours": None, "floor": None},
        "memory_note": memory_note,
        "settings": settings,
        "details": details or {},
    }


def write_json(results: list[dict[str, Any]], path: str | os.PathLike | None) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=1))


def print_results(results: list[dict[str, Any]]) -> None:
    for r in results:
        target = r["goal"]
        peaks = r["peak_mib"]
        memory = ""
        if peaks.get("ours") is not None:
            memory = f"; peak memory ours {peaks['ours']:.0f} MiB, floor {peaks['floor']:.0f} MiB"
        print(
            f"{r['name']}: ours {r['ours']:.4g} vs floor {r['floor']:.4g} {r['unit']} -> ratio {r['ratio']:.3f} "
            f"(goal {target['op']} {target['value']}: {'met' if r['met'] else 'MISSED'}){memory}"
        )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _probe_main() -> None:
    """Child side of :func:`peak_rss_mib`: ``work = module.function(**kwargs)`` sets up, ``work()`` is measured."""
    target, kwargs = sys.argv[2], json.loads(sys.argv[3])
    module_name, function_name = target.split(":")
    work = getattr(importlib.import_module(module_name), function_name)(**kwargs)
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS (Linux ≥ 4.0)
    work()
    print("PEAK_RSS_KIB " + json.dumps({"peak": _status_kib("VmHWM"), "before": before}))


def peak_rss_mib(target: str, **kwargs: Any) -> dict[str, float]:
    """Peak resident memory (MiB) of one side of a benchmark, alone in a fresh process.

    ``target`` is ``"module:function"``; ``function(**kwargs)`` (JSON-able kwargs) imports and builds what it
    needs and returns a zero-argument ``work`` callable. Returns ``{"peak", "before"}``: the process's peak RSS
    while ``work()`` ran (Linux ``VmHWM``, reset just before; it includes what was already resident: libraries,
    models) and the RSS just before it. Child processes (loader workers) are not counted. A fresh process per side
    so that one side's peak never hides the other's.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.common", "--probe", target, json.dumps(kwargs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("PEAK_RSS_KIB ")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory probe {target} failed: {tail}")
    kib = json.loads(lines[-1].split(" ", 1)[1])
    return {key: value / 1024 for key, value in kib.items()}


def rss_peaks(target: str, memory_note: str = "", **kwargs: Any) -> tuple[dict[str, float], str]:
    """``peak_mib`` and ``memory_note`` of a :func:`result` from two probes of ``target``: ``side="ours"`` and
    ``side="floor"`` (plus ``kwargs``)."""
    probes = {side: peak_rss_mib(target, side=side, **kwargs) for side in ("ours", "floor")}
    note = (
        "process peak RSS during the work, each side alone in a fresh process; resident before it (libraries, "
        f"model): ours {probes['ours']['before']:.0f} MiB, floor {probes['floor']['before']:.0f} MiB"
    )
    if memory_note:
        note += f"; {memory_note}"
    return {side: p["peak"] for side, p in probes.items()}, note


def sync(device: str) -> None:
    """Wait for queued CUDA work, so that wall-clock timings cover it (a no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed_seconds(function: Callable[[], Any], device: str, repeats: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``function()``, each synchronised with the device."""
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        function()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def cuda_peak_mib(function: Callable[[], Any]) -> float:
    """``torch.cuda.max_memory_allocated`` (MiB) while ``function()`` runs."""
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    function()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpus": gpus,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("torch", "mediapipe", "timm", "transformers", "litdata", "av")},
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--probe":
    _probe_main()
