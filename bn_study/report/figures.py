"""matplotlib set up once for files only, and how every figure is saved (atomically, one DPI)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bn_study.results import atomic_path  # noqa: E402

DPI = 120


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def integer_epochs(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
