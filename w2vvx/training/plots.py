"""Training curves as a PNG (matplotlib, Agg backend; no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.io.atomic import atomic_path


def plot_history(history: List[Dict[str, float]], path, metric: Optional[str] = None) -> Path:
    """Plot training loss and the validation metric per epoch into ``path`` (PNG), atomically.

    Epoch ticks are whole numbers; the legend sits below the axes, so it hides no point (the best one
    is marked by a dotted line).

    Args:
        history: one dict per epoch with ``"epoch"``, ``"loss"`` and ``metric`` (others ignored).
        path: the PNG file to (re)write.
        metric: the validation key to plot on the right axis (e.g. ``"val_sumr"``); skipped if absent.

    Example:
        >>> import tempfile, os
        >>> out = plot_history([{"epoch": 1, "loss": 2.0, "val_sumr": 10.0}],
        ...                    os.path.join(tempfile.mkdtemp(), "t.png"), "val_sumr")
        >>> out.stat().st_size > 0
        True
    """
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state, no display
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    epochs = [entry["epoch"] for entry in history]
    figure = Figure(figsize=(7, 4), dpi=100)
    loss_axis = figure.add_subplot(1, 1, 1)
    losses = [entry.get("loss", float("nan")) for entry in history]
    loss_axis.plot(epochs, losses, "o-", color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    # epochs are whole: no 1.25 ticks on short runs (one tick per epoch up to 12, whole numbers beyond)
    if len(epochs) <= 12:
        loss_axis.set_xticks(epochs)
    else:
        loss_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        loss_axis.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
    loss_axis.set_ylabel("training loss", color="tab:blue")
    handles, labels = loss_axis.get_legend_handles_labels()
    if metric and any(metric in entry for entry in history):
        metric_axis = loss_axis.twinx()
        values = [entry.get(metric, float("nan")) for entry in history]
        metric_axis.plot(epochs, values, "s-", color="tab:orange", label=metric)
        metric_axis.set_ylabel(metric, color="tab:orange")
        best = max(range(len(values)), key=lambda index: (values[index] == values[index], values[index]))
        metric_axis.axvline(epochs[best], color="tab:orange", linestyle=":", linewidth=1)
        more_handles, more_labels = metric_axis.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    # below the axes, outside the plotting area: it can never hide a curve or the best point
    loss_axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=max(len(labels), 1),
                     frameon=False)
    loss_axis.set_title("training loss and validation metric per epoch")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
