"""Schedules at start, warm-up end and end (DINOv2 CosineScheduler semantics) with Table 7's values."""

import math

import pytest

from signmusketeers.pretrain.schedules import CosineSchedule, build_schedules, scaled_lr

TABLE_7 = dict(
    lr=2e-4,
    min_lr=1e-6,
    epochs=100,
    epoch_length=100,
    warmup_epochs=10,
    freeze_last_layer_epochs=1,
    weight_decay=0.04,
    weight_decay_end=0.2,
    momentum_teacher=0.994,
    final_momentum_teacher=1.0,
    teacher_temp=0.07,
    warmup_teacher_temp=0.04,
    warmup_teacher_temp_epochs=30,
)


def test_cosine_schedule_hand_values():
    s = CosineSchedule(1.0, 0.0, total_iters=10, warmup_iters=2)
    assert s[0] == 0.0 and s[1] == 1.0  # linspace warm-up includes its end
    assert s[2] == 1.0  # the cosine starts at the base value
    assert s[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert s[10] == 0.0 and s[10**6] == 0.0


def test_cosine_schedule_freeze_and_bad_lengths():
    s = CosineSchedule(1.0, 0.5, total_iters=6, warmup_iters=2, freeze_iters=2)
    assert [s[i] for i in range(4)] == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError):
        CosineSchedule(1.0, 0.0, total_iters=3, warmup_iters=4)


def test_scaled_lr_sqrt_rule():
    assert scaled_lr(2e-4, 128 * 8) == pytest.approx(2e-4)
    assert scaled_lr(2e-4, 256) == pytest.approx(1e-4)


def test_table_7_schedules():
    s = build_schedules(**TABLE_7)
    assert s.lr[0] == 0.0
    assert s.lr[999] == pytest.approx(2e-4)  # end of the 10-epoch warm-up
    assert s.lr[1000] == pytest.approx(2e-4)
    assert 1e-6 < s.lr[9999] < 1.01e-6 and s.lr[10000] == 1e-6
    assert s.last_layer_lr[0] == 0.0 and s.last_layer_lr[99] == 0.0  # frozen for the first epoch
    assert s.last_layer_lr[100] == pytest.approx(s.lr[100]) and s.last_layer_lr[5000] == s.lr[5000]
    assert s.weight_decay[0] == pytest.approx(0.04) and s.weight_decay[10000] == 0.2
    assert s.weight_decay[5000] == pytest.approx(0.12)  # half way along the cosine
    assert s.momentum[0] == pytest.approx(0.994) and s.momentum[10000] == 1.0
    assert s.teacher_temp[0] == pytest.approx(0.04)
    assert s.teacher_temp[2999] == pytest.approx(0.07) and s.teacher_temp[3000] == 0.07
    assert s.teacher_temp[1500] == pytest.approx(0.04 + 0.03 * 1500 / 2999)
