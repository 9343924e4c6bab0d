import pytest
import torch

from signmusketeers.translate.fusion import StreamFusion


def features(batch=2, frames=5):
    return {
        "face": torch.randn(batch, frames, 384),
        "left": torch.randn(batch, frames, 384),
        "right": torch.randn(batch, frames, 384),
        "pose": torch.randn(batch, frames, 14),
        "global": torch.randn(batch, frames, 384),
    }


def test_table8_shapes():
    fusion = StreamFusion(d_model=768)
    assert [fusion.projections[s].out_features for s in ("face", "left", "right", "pose")] == [256, 256, 256, 128]
    assert fusion.to_model.in_features == 896
    assert fusion(features()).shape == (2, 5, 768)


@pytest.mark.parametrize(
    "streams,width",
    [(["face"], 256), (["left", "right"], 512), (["pose"], 128), (["face", "left", "right", "pose", "global"], 1152)],
)
def test_stream_subsets(streams, width):
    fusion = StreamFusion(streams, d_model=32)
    assert fusion.to_model.in_features == width
    assert fusion(features()).shape == (2, 5, 32)


def test_frames_are_independent_and_unused_streams_ignored():
    fusion = StreamFusion(["face", "pose"], d_model=16)
    batch = features()
    out = fusion(batch)
    changed = dict(batch)
    changed["face"] = batch["face"].clone()
    changed["face"][:, 3] += 1.0
    changed["left"] = torch.zeros_like(batch["left"])  # not a selected stream
    out2 = fusion(changed)
    assert torch.equal(out[:, :3], out2[:, :3]) and torch.equal(out[:, 4:], out2[:, 4:])
    assert not torch.allclose(out[:, 3], out2[:, 3])


def test_bad_streams_and_missing_features():
    with pytest.raises(ValueError, match="streams"):
        StreamFusion(["face", "nose"])
    with pytest.raises(KeyError, match="pose"):
        StreamFusion(["face", "pose"])({"face": torch.randn(1, 2, 384)})
