"""The one table of summary.csv's figures and their labels: every report, table, plot and page
names a figure by `label(figure)`."""
from __future__ import annotations

LABELS = {
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
    "final_accuracy": "training accuracy, last epoch",
    "final_loss": "training loss, last epoch",
    "final_val_accuracy": "validation accuracy, last epoch",
    "best_val_accuracy": "validation accuracy, best epoch",
    "best_minus_final_val_accuracy": "best − last validation accuracy",
    "gap_accuracy": "train − validation accuracy, last epoch",
    "final_val_loss": "validation loss, last epoch",
    "min_val_loss": "validation loss, lowest",
    "val_accuracy_epoch1": "validation accuracy after epoch 1",
    "accuracy_epoch1": "training accuracy of epoch 1 (mean over its batches)",
    "val_accuracy_std_late": "std of validation accuracy over the 2nd half of epochs",
    "seconds_per_epoch": "seconds per epoch (median)",
    "test_accuracy_step_mean": "test accuracy, mean over the records every N steps",
    "probe_p50_range": "probed input's median: max − min over training",
    "probe_spread_range": "probed input's 15th–85th spread: max − min over training",
    "loss_spikes": "loss spikes per run",
}
# The thresholded figures: summary.csv has one column per threshold of the experiment.
PREFIXES = {"epochs_to_val_": "epochs to validation accuracy {}", "test_steps_to_": "steps to test accuracy {}"}


def label(figure: str) -> str:
    """The name every view gives a summary figure ('epochs_to_val_0.99' -> 'epochs to validation accuracy 0.99')."""
    for prefix, text in PREFIXES.items():
        if figure.startswith(prefix):
            return text.format(figure.removeprefix(prefix))
    return LABELS.get(figure, figure.replace("_", " "))


# Which figures each view shows, in its order.
REPORT_FIGURES = ("test_accuracy", "test_loss", "final_val_accuracy", "best_val_accuracy",
                  "best_minus_final_val_accuracy", "gap_accuracy", "final_val_loss", "min_val_loss",
                  "val_accuracy_epoch1", "val_accuracy_std_late", "seconds_per_epoch", "test_accuracy_step_mean",
                  "probe_p50_range", "probe_spread_range")
SWEEP_FIGURES = ("test_accuracy", "best_val_accuracy", "final_val_accuracy", "final_accuracy", "final_loss")
COMPARE_FIGURES = ("test_accuracy", "test_loss", "final_val_accuracy", "best_val_accuracy", "val_accuracy_epoch1",
                   "min_val_loss")
