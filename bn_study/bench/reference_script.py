"""The article's experiment as its own plain Keras script: the benchmark's reference arm.

A Sequential CNN fitted on NumPy arrays with validation_split 0.2 ("Hands-On Guide To Implement Batch
Normalization in Deep Learning Models", Analytics India Magazine), written here from its description, on
the same verified arrays bn_study trains on; `reference_tf_data` arms feed it a tf.data pipeline instead.
Run as a process of its own by bench/side_by_side.py: MODEL EPOCHS TRAIN_LIMIT DATA_PATH DATASET ARM;
prints its epoch times as JSON on its last line.
"""
from __future__ import annotations

import json
import sys
import time


def _tf_data(x, y, batch_size: int, shuffle: bool):
    """A tf.data pipeline over in-memory arrays; uint8 images are scaled to float32 [0, 1] per batch."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        data = data.shuffle(len(x), seed=0, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if x.dtype == "uint8":
        data = data.map(lambda images, labels: (tf.cast(images, tf.float32) / 255, labels),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def reference_main(model_name: str, epochs: int, train_limit: int | None, data_path: str | None, dataset: str,
                   feed: str = "reference") -> None:
    """The article's script, plain Keras; prints its epoch times as JSON on the last line."""
    import keras

    from bn_study.data.datasets import load_dataset

    images = load_dataset(data_path, dataset, log=lambda m: None)  # the same verified arrays
    x = images.x_train[:train_limit].reshape(-1, 28, 28, 1)
    x = x if feed == "reference_tf_data_uint8" else x.astype("float32") / 255
    y = images.y_train[:train_limit]
    keras.utils.set_random_seed(0)
    L = keras.layers
    layers = [L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
              L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
              L.Flatten(), L.Dense(256, activation="relu"), L.Dense(10, activation="softmax")]
    if model_name == "bn":
        for position in (6, 4, 3, 2, 1):  # after Dense(256), pool, conv, pool, conv
            layers.insert(position, L.BatchNormalization())
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
    times, cpu_times, start = [], [], [0.0, 0.0]
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: start.__setitem__(slice(None), [time.perf_counter(), time.process_time()]),
        on_epoch_end=lambda e, logs: (times.append(time.perf_counter() - start[0]),
                                      cpu_times.append(time.process_time() - start[1])))
    if feed == "reference":
        history = model.fit(x, y, batch_size=250, epochs=epochs, validation_split=0.2, verbose=0, callbacks=[clock])
    else:
        split_at = int(len(x) * 0.8)
        history = model.fit(_tf_data(x[:split_at], y[:split_at], 250, shuffle=True), epochs=epochs, verbose=0, callbacks=[clock],
                  validation_data=_tf_data(x[split_at:], y[split_at:], 250, shuffle=False))
    print(json.dumps({"seconds": times, "cpu_seconds": cpu_times, "n_train": int(len(x) * 0.8),
                      "final_accuracy": history.history["accuracy"][-1],
                      "final_val_accuracy": history.history["val_accuracy"][-1]}))


if __name__ == "__main__":
    name, n_epochs, limit, path, data_set, feed = sys.argv[1:7]
    reference_main(name, int(n_epochs), None if limit == "none" else int(limit), None if path == "none" else path,
                   data_set, feed)
