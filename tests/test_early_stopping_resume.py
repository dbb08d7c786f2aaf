"""Early stopping on a resumed run counts the epochs before the resume, and keeps its count across its fits."""

import keras

from crossmodal_tf.callbacks import ResumedEarlyStopping


def _stopper(replay):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopper = ResumedEarlyStopping(replay, monitor="val_loss", mode="min", patience=2)
    stopper.set_model(model)
    return stopper, model


def test_the_replayed_epochs_count_towards_patience():
    stopper, model = _stopper([{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 1.5}])
    stopper.on_train_begin()
    stopper.on_epoch_end(2, {"val_loss": 1.6})  # the second epoch in a row without improvement
    assert model.stop_training


def test_a_second_fit_of_the_same_run_keeps_the_count():
    """A resumed partial epoch is fit on its own, then the other epochs: patience must not restart."""
    stopper, model = _stopper([{"epoch": 1, "val_loss": 1.0}])
    stopper.on_train_begin()
    stopper.on_epoch_end(1, {"val_loss": 1.5})  # the partial epoch's fit
    stopper.on_train_begin()  # the next fit
    stopper.on_epoch_end(2, {"val_loss": 1.6})
    assert model.stop_training
