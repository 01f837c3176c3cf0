"""W2VV++'s learning-rate rule (w2vvpp model.py: StepLR x0.99 + ReduceLROnPlateau(max, 0.5, patience 2))."""
import keras
import pytest

from w2vvx.models.configs import get_config
from w2vvx.training.callbacks import LineageSchedule
from w2vvx.training.checkpoint import TrainerState
from w2vvx.training.schedules import PlateauSchedule, learning_rate_schedule, plateau_trace

VALUES = [0.1, 0.2, 0.2, 0.19, 0.18, 0.25, 0.1, 0.1, 0.1, 0.1]


def test_plateau_rule_against_a_hand_trace():
    # epoch: 0 best, 1 best, 2-4 bad (count 1, 2, 3 > 2: halve, count 0), 5 best (resets), 6-8 bad (halve at 8), 9 bad
    d = 0.99
    chained = [d, d ** 2, d ** 3, d ** 4, d ** 5 / 2, d ** 6 / 2, d ** 7 / 2, d ** 8 / 2, d ** 9 / 4, d ** 10 / 4]
    assert plateau_trace(VALUES, 1.0) == pytest.approx(chained)
    # PyTorch 1.2 (w2vvpp's pin): StepLR in closed form, each halving lasts one epoch
    closed = [d, d ** 2, d ** 3, d ** 4, d ** 5 / 2, d ** 6, d ** 7, d ** 8, d ** 9 / 2, d ** 10]
    assert plateau_trace(VALUES, 1.0, closed_form=True) == pytest.approx(closed)
    # an improvement below the relative threshold 1e-4 is a bad epoch
    assert plateau_trace([0.5, 0.50001, 0.50002, 0.50003], 1.0, decay=1.0) == pytest.approx([1, 1, 1, 0.5])


def _model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.RMSprop(1.0), loss="mse")
    return model


def test_plateau_callback_follows_the_trace_and_resumes_from_history():
    state = TrainerState(lr=1.0)
    schedule = learning_rate_schedule(get_config("w2vvpp", learning_rate=1.0), state, "val_t2v_mir")
    assert isinstance(schedule, PlateauSchedule)
    schedule.set_model(_model())
    lrs = []
    for epoch, value in enumerate(VALUES):
        if epoch == 6:  # a resumed run: a fresh callback, state and history restored
            schedule = learning_rate_schedule(get_config("w2vvpp", learning_rate=1.0), state, "val_t2v_mir")
            schedule.set_model(_model())
            keras.ops.convert_to_numpy(0)
            schedule.model.optimizer.learning_rate.assign(state.lr)
        logs = {"val_t2v_mir": value}
        schedule.on_epoch_end(epoch, logs)
        state.history.append(dict(logs, epoch=epoch))
        lrs.append(logs["lr"])
    assert lrs == pytest.approx(plateau_trace(VALUES, 1.0))
    assert state.best_metric == 0.25 and state.best_epoch == 5


def test_halving_stays_for_w2vv_and_nrccr():
    for name in ("base_w2vv", "w2vv_attention_ctl", "nrccr"):
        schedule = learning_rate_schedule(get_config(name), TrainerState(), "val_x")
        assert type(schedule) is LineageSchedule and get_config(name).lr_schedule == "halving"
    assert get_config("w2vvpp").lr_schedule == "plateau"
