"""training.png: whole-epoch ticks and a legend that never hides the best validation point."""
import pytest

from w2vvx.training import plots


def _draw(history, tmp_path, monkeypatch):
    """Run plot_history and keep its Figure (drawn) for inspection."""
    from matplotlib.figure import Figure

    kept = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        kept.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    out = plots.plot_history(history, tmp_path / "training.png", metric="val_i2t_map")
    assert out.read_bytes()[:4] == b"\x89PNG"
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = kept[0]
    FigureCanvasAgg(figure).draw()
    return figure


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_short_runs_have_whole_epoch_ticks(tmp_path, monkeypatch, epochs):
    history = [{"epoch": e, "loss": 10.0 - e, "val_i2t_map": 0.1 * e} for e in range(1, epochs + 1)]
    figure = _draw(history, tmp_path, monkeypatch)
    loss_axis = figure.axes[0]
    low, high = loss_axis.get_xlim()
    ticks = [t for t in loss_axis.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


@pytest.mark.parametrize("values", [(0.1, 0.2, 0.3), (0.3, 0.2, 0.1), (0.1, 0.3, 0.2), (0.2, 0.1, 0.1, 0.1, 0.4)])
def test_legend_does_not_cover_the_best_point(tmp_path, monkeypatch, values):
    # loss falling and metric rising put both curves' ends in the upper right corner, where the legend used to be
    history = [{"epoch": e + 1, "loss": 5.0 - e, "val_i2t_map": v} for e, v in enumerate(values)]
    figure = _draw(history, tmp_path, monkeypatch)
    metric_axis = figure.axes[1]
    best = max(range(len(values)), key=lambda i: values[i])
    x, y = metric_axis.transData.transform((best + 1, values[best]))
    legend = figure.axes[0].get_legend()
    box = legend.get_window_extent(figure.canvas.get_renderer())
    assert not box.contains(x, y)
    # and it hides no plotted point of either curve
    for axis, key in ((figure.axes[0], "loss"), (metric_axis, "val_i2t_map")):
        for entry in history:
            px, py = axis.transData.transform((entry["epoch"], entry[key]))
            assert not box.contains(px, py), (key, entry)
