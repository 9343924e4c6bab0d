"""Shared fixtures: the real signing clips in ../shared/data/clips (skipped where absent) and small SynthSign sets."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIPS = REPO_ROOT.parent / "shared" / "data" / "clips"


@pytest.fixture(scope="session")
def shared_clips() -> Path:
    """Folder of the real signing clips; skips the test where ../shared is not beside the repository."""
    if not (SHARED_CLIPS / "signer_blue_screen.mp4").exists():
        pytest.skip(f"real signing clips not found at {SHARED_CLIPS}")
    return SHARED_CLIPS


@pytest.fixture(scope="session")
def synthsign_small(tmp_path_factory) -> Path:
    """A 6-clip SynthSign set (seed 3), rendered once per test session; returns its folder."""
    from signmusketeers.synthsign import generate

    out = tmp_path_factory.mktemp("synthsign")
    generate(out, clips=6, seed=3)
    return out
