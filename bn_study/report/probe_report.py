"""What the probe recorded (probe.csv), shown: percentile and gradient-norm plots, and the report's
section on distributions and gradient flow (with its "internal covariate shift" reading)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bn_study.report.figures import plt, save_figure
from bn_study.report.tables import markdown_table
from bn_study.results import RunRecord
from bn_study.stats.probe import probe_tables


def probe_plots(runs: list[RunRecord], variants: list[str], out: Path) -> list[Path]:
    """Percentile bands of unit 0's pre-activation per probed layer, and kernel gradient norms."""
    tables = probe_tables(runs, variants)
    if not tables:
        return []
    names = list(tables)
    rows = max(t.loc[t["statistic"] == "pre_p50", "layer"].nunique() for t in tables.values())
    fig, axes = plt.subplots(rows, len(names), figsize=(5.5 * len(names), 2.8 * rows), squeeze=False, sharex=True)
    for col, v in enumerate(names):
        t = tables[v]
        layers = list(dict.fromkeys(t.loc[t["statistic"] == "pre_p50", "layer"]))
        for row, layer in enumerate(layers):
            ax = axes[row][col]
            wide = t[t["layer"] == layer].pivot_table(index="step", columns="statistic", values="value")
            ax.fill_between(wide.index, wide["pre_p15"], wide["pre_p85"], alpha=0.3, label="15th–85th")
            ax.plot(wide.index, wide["pre_p50"], label="50th")
            ax.set_title(f"{v} (seed {t['seed'].iloc[0]}): layer {layer}, unit 0", fontsize=10)
            ax.grid(alpha=0.3)
        axes[-1][col].set_xlabel("training step")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Pre-activation of unit 0 over the probe batch: 15th, 50th, 85th percentiles "
                 "(Ioffe & Szegedy 2015, Fig. 1b,c)")
    paths = [save_figure(fig, out / "probe_percentiles.png")]

    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False, sharey=True)
    for ax, v in zip(axes[0], names):
        g = tables[v][tables[v]["statistic"] == "grad_norm"]
        for layer, rows_ in g.groupby("layer", sort=False):
            ax.plot(rows_["step"], rows_["value"], label=layer)
        ax.set_yscale("log")
        ax.set_title(f"{v}: kernel gradient L2 norm")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return paths + [save_figure(fig, out / "gradient_norms.png")]


def probe_section(movement: pd.DataFrame) -> str:
    """The probe's numbers (probe_movement.csv) and what they say about 'internal covariate shift'."""
    if movement.empty:
        return ""
    rows, means = [], {}
    for v, group in movement.groupby("variant", sort=False):
        for m in group[group["kind"] == "layer"].itertuples():
            rows.append([v, m.layer, f"{m.drift:.3f}", f"{m.jitter:.4f}"])
        whole = group[group["kind"] == "variant"].iloc[0]
        rows.append([v, whole["layer"], f"median {whole['grad_ratio']:.3g}", ""])
        means[v] = whole
    lines = ["## Inside the network: distributions and gradient flow", "",
             "After epoch 1, per probed layer: how far unit 0's median pre-activation moved by the last step "
             "(drift) and how much it moved between consecutive records (jitter, the median), both in units "
             "of its final 15th–85th percentile spread; and the median ratio of the first to the last "
             "kernel's gradient norm.", "",
             markdown_table(["variant", "layer", "drift", "jitter"], rows), ""]
    if len(means) >= 2:
        (a, first), (b, second) = list(means.items())[:2]
        drift_a, jitter_a, grad_a = first[["drift", "jitter", "grad_ratio"]]
        drift_b, jitter_b, grad_b = second[["drift", "jitter", "grad_ratio"]]
        steadier = [w for w in ("drift", "jitter") if bool(second[f"less_{w}"])]  # stats/probe.py compared them
        verdict = ("less on both measures, as the internal-covariate-shift account predicts" if len(steadier) == 2
                   else "more on both measures, the opposite of what the internal-covariate-shift account predicts"
                   if not steadier else f"less only in {steadier[0]}, so the two measures disagree")
        bn_probed = any("Norm" in layer for layer in movement.loc[(movement["variant"] == b) & (movement["kind"] == "layer"), "layer"])
        where = ("The BN model's probed layers are BN layers here, so what is measured is the normalised input of "
                 "the next activation, as in the paper's figure." if bn_probed else
                 "In the article's model BN follows each ReLU, so it normalises the *inputs* of the next "
                 "Conv2D/Dense rather than the pre-activations measured here.")
        lines.append(
            f"*Internal covariate shift.* Ioffe & Szegedy (2015, Fig. 1) show a sigmoid's input distribution "
            f"drifting during training without BN and held steady with it, and the source articles give that as "
            f"why BN works. Averaged over the probed layers, the distributions moved {verdict}: drift {drift_b:.3f} "
            f"with BN ({b}) vs {drift_a:.3f} without ({a}), jitter {jitter_b:.4f} vs {jitter_a:.4f} (one seed: a "
            f"description, not a test). {where} Steadier distributions, where "
            f"seen, do not show that steadiness is what helps: Santurkar et al. (2018) found BN's benefit survives "
            f"deliberately injected shift. Gradient flow: the first kernel's gradient norm was a median "
            f"{grad_b:.3g}× the last kernel's with BN and {grad_a:.3g}× without, so with BN the loss reaches the "
            f"first layer {'less' if bool(second['lower_grad_ratio']) else 'more'} strongly relative to the last.")
    return "\n".join(lines + ["", "![probe_percentiles.png](plots/probe_percentiles.png)", "",
                               "*Percentiles of unit 0's pre-activation over the probe batch, per probed layer.*", "",
                               "![gradient_norms.png](plots/gradient_norms.png)", "",
                               "*L2 norm of the loss gradient for each kernel.*", ""])
