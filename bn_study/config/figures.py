"""The one registry of the figures a run is summarised by (summary.csv's columns): each figure's name,
the label every view gives it, its unit and which direction is better, and the file it comes from.
Experiment specs check a claim's `metric` against it; views label, order and colour by it."""
from __future__ import annotations

from dataclasses import dataclass

HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str = ""  # '' for a fraction (accuracy) or a number without unit (loss)
    better: str | None = None  # HIGHER, LOWER, or None where neither is better (an epoch count, a spread)
    source: str = "history"  # the run file it comes from: history (and metrics), steps, probe, landscape, step_loss


REGISTRY = (
    Figure("epochs", "epochs", "epochs"),
    Figure("final_accuracy", "training accuracy, last epoch", better=HIGHER),
    Figure("final_val_accuracy", "validation accuracy, last epoch", better=HIGHER),
    Figure("final_loss", "training loss, last epoch", better=LOWER),
    Figure("final_val_loss", "validation loss, last epoch", better=LOWER),
    Figure("best_val_accuracy", "validation accuracy, best epoch", better=HIGHER),
    Figure("best_val_epoch", "best val epoch", "epochs"),
    Figure("best_minus_final_val_accuracy", "best − last validation accuracy", better=LOWER),
    Figure("min_val_loss", "validation loss, lowest", better=LOWER),
    Figure("test_accuracy", "test accuracy", better=HIGHER),
    Figure("test_loss", "test loss", better=LOWER),
    Figure("gap_accuracy", "train − validation accuracy, last epoch", better=LOWER),
    Figure("val_accuracy_epoch1", "validation accuracy after epoch 1", better=HIGHER),
    Figure("accuracy_epoch1", "training accuracy of epoch 1 (mean over its batches)", better=HIGHER),
    Figure("val_accuracy_std_late", "std of validation accuracy over the 2nd half of epochs", better=LOWER),
    Figure("train_seconds", "train seconds", "s", LOWER),
    Figure("seconds_per_epoch", "seconds per epoch (median)", "s", LOWER),
    Figure("diverged", "diverged", better=LOWER),
    Figure("diverged_epoch", "diverged epoch", "epochs"),
    Figure("test_accuracy_step_mean", "test accuracy, mean over the records every N steps", better=HIGHER, source="steps"),
    Figure("last_test_step", "last test step", "steps", source="steps"),
    Figure("probe_p50_range", "probed input's median: max − min over training", source="probe"),
    Figure("probe_spread_range", "probed input's 15th–85th spread: max − min over training", source="probe"),
    Figure("landscape_loss_variation", "landscape loss variation", better=LOWER, source="landscape"),
    Figure("landscape_grad_change", "landscape grad change", better=LOWER, source="landscape"),
    Figure("landscape_beta", "landscape beta", better=LOWER, source="landscape"),
    Figure("loss_spikes", "loss spikes per run", better=LOWER, source="step_loss"),
)
# One column per threshold of the experiment: the name's {} is the threshold, as in epochs_to_val_0.99.
THRESHOLDED = (Figure("epochs_to_val_{}", "epochs to validation accuracy {}", "epochs", LOWER),
               Figure("test_steps_to_{}", "steps to test accuracy {}", "steps", LOWER, source="steps"))
BY_NAME = {f.name: f for f in REGISTRY}


def figure(name: str) -> Figure:
    """The registry's entry for a summary.csv column (a thresholded one with its threshold filled in); an
    unknown name gets its name as label."""
    if name in BY_NAME:
        return BY_NAME[name]
    for entry in THRESHOLDED:
        prefix = entry.name.split("{}")[0]
        if name.startswith(prefix):
            threshold = name.removeprefix(prefix)
            return Figure(name, entry.label.format(threshold), entry.unit, entry.better, entry.source)
    return Figure(name, name.replace("_", " "))


def names(*sources: str) -> tuple[str, ...]:
    """The registry's figure names from these sources, in its order."""
    return tuple(f.name for f in REGISTRY if f.source in sources)
