"""The GPU-hours projection of BENCHMARKS.md (benchmarks/projection.py): arithmetic on the recipe's numbers."""

import pytest

from benchmarks.projection import PAPER_GPU_HOURS, Recipe, formula, project_gpu_hours


def test_recipe_amounts_follow_the_paper():
    recipe = Recipe()
    assert recipe.pretrain_images == 2 * 5 * 1_000_000
    # (984 + 80) h of video at 30 fps, every second frame, 3 crops a frame
    assert recipe.extraction_frames == pytest.approx(1064 * 3600 * 30 / 2)
    assert recipe.extraction_crops == pytest.approx(1064 * 3600 * 15 * 3)
    assert recipe.translation_gpu_steps == 10_000 * 8


def test_projection_by_hand():
    recipe = Recipe(
        encoders=2,
        pretrain_crops_per_encoder=1000,
        pretrain_effective_epochs=2,
        video_hours={"a": 1.0},
        fps=10,
        frame_stride=2,
        crops_per_frame=3,
        translation_steps=(100, 100),
        translation_gpus=4,
    )
    hours = project_gpu_hours(pretrain_images_per_s=2.0, extract_crops_per_s=5.0, translate_step_s=0.9, recipe=recipe)
    assert hours["pretrain"] == pytest.approx(4000 / 2.0 / 3600)  # 2 x 1000 x 2 images
    assert hours["extract"] == pytest.approx(3600 * 10 / 2 * 3 / 5.0 / 3600)  # 54,000 crops
    assert hours["translate"] == pytest.approx(800 * 0.9 / 3600)  # 200 steps x 4 GPUs
    assert hours["total"] == pytest.approx(hours["pretrain"] + hours["extract"] + hours["translate"])
    assert hours["total_vs_paper"] == pytest.approx(hours["total"] / PAPER_GPU_HOURS)
    assert hours["inputs"]["extraction_crops"] == pytest.approx(54_000)


def test_faster_gpus_fewer_hours_and_translation_optional():
    slow = project_gpu_hours(1000.0, 2000.0, 0.5)
    fast = project_gpu_hours(2000.0, 4000.0, 0.25)
    assert fast["total"] == pytest.approx(slow["total"] / 2)
    without = project_gpu_hours(1000.0, 2000.0)
    assert without["translate"] is None
    assert without["total"] == pytest.approx(slow["pretrain"] + slow["extract"])


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_throughput_is_refused(bad):
    with pytest.raises(ValueError, match="pretrain_images_per_s"):
        project_gpu_hours(bad, 1.0)
    with pytest.raises(ValueError, match="translate_step_s"):
        project_gpu_hours(1.0, 1.0, bad)


def test_formula_names_every_input():
    text = "\n".join(formula())
    for needle in (
        "10,000,000 images",
        "984 h (YouTube-ASL)",
        "80 h (How2Sign)",
        "30 fps",
        "stride 2",
        "80,000 GPU-steps",
        "(5000 + 5000) steps",
    ):
        assert needle in text


def test_validation_is_counted_when_measured():
    recipe = Recipe(translation_steps=(1000, 500), validate_every=500, validation_clips=100)
    assert recipe.validations == 3 and recipe.validation_clip_generations == 300
    hours = project_gpu_hours(1.0, 1.0, 1.0, recipe, validate_clip_s=0.6)
    assert hours["validate"] == pytest.approx(300 * 0.6 / 3600)
    assert hours["total"] == pytest.approx(
        hours["pretrain"] + hours["extract"] + hours["translate"] + hours["validate"]
    )
    assert project_gpu_hours(1.0, 1.0, 1.0, recipe)["validate"] is None
    assert "34,820 clips" in "\n".join(formula())  # 20 validations x 1,741 How2Sign validation clips
