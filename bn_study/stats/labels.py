"""Every report, table, plot and page names a figure by `label(figure)` (the registry's label,
config/figures.py), and shows the figures these tables list, in their order."""
from __future__ import annotations

from bn_study.config.figures import figure as registry_entry


def label(figure: str) -> str:
    """The name every view gives a summary figure ('epochs_to_val_0.99' -> 'epochs to validation accuracy 0.99'),
    from the figure registry (config/figures.py)."""
    return registry_entry(figure).label


# Which figures each view shows, in its order.
REPORT_FIGURES = ("test_accuracy", "test_loss", "final_val_accuracy", "best_val_accuracy",
                  "best_minus_final_val_accuracy", "gap_accuracy", "final_val_loss", "min_val_loss",
                  "val_accuracy_epoch1", "val_accuracy_std_late", "seconds_per_epoch", "test_accuracy_step_mean",
                  "probe_p50_range", "probe_spread_range")
SWEEP_FIGURES = ("test_accuracy", "best_val_accuracy", "final_val_accuracy", "final_accuracy", "final_loss")
COMPARE_FIGURES = ("test_accuracy", "test_loss", "final_val_accuracy", "best_val_accuracy", "val_accuracy_epoch1",
                   "min_val_loss")
