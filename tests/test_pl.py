"""Each plot of sclong_tl.pl runs and draws the expected artists (bars, lines, labels, highlighted genes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

import sclong_tl as sl
from sclong_tl.pl._utils import HIGHLIGHT_COLOR, OTHER_COLOR


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bars(ax) -> list[BarContainer]:
    return [container for container in ax.containers if isinstance(container, BarContainer)]


def _bar_heights(ax) -> list[float]:
    return [patch.get_height() for container in _bars(ax) for patch in container]


def test_batch_asw_bars_sorted_highlighted_and_saved(tmp_path):
    scores = {"Raw": 0.70, "scLong": 0.96, "HVG": 0.89, "PCA": 0.81}
    out = tmp_path / "asw.png"
    ax = sl.pl.batch_asw(scores, show=False, save=out)
    assert len(ax.patches) == 4
    assert _bar_heights(ax) == pytest.approx([0.96, 0.89, 0.81, 0.70])
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["scLong", "HVG", "PCA", "Raw"]
    colors = [to_hex(patch.get_facecolor()) for patch in ax.patches]
    assert colors == [HIGHLIGHT_COLOR, OTHER_COLOR, OTHER_COLOR, OTHER_COLOR]
    assert [text.get_text() for text in ax.texts] == ["0.96", "0.89", "0.81", "0.70"]
    assert ax.get_ylabel() == "Batch ASW"
    assert out.is_file() and out.stat().st_size > 1000


def test_batch_asw_keeps_order_and_draws_into_given_axes():
    _, given = plt.subplots()
    ax = sl.pl.batch_asw(pd.Series({"b": 0.2, "a": 0.5}), sort=False, highlight=None, ax=given, show=False)
    assert ax is given
    assert _bar_heights(ax) == pytest.approx([0.2, 0.5])


@pytest.mark.parametrize("bad", [{}, {"a": np.nan}])
def test_batch_asw_rejects_bad_scores(bad):
    with pytest.raises(ValueError, match="scores"):
        sl.pl.batch_asw(bad, show=False)


def test_show_true_returns_none(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    assert sl.pl.batch_asw({"a": 0.5}, show=None) is None
    assert shown == [True]


def test_grn_pr_curves_one_line_per_method_plus_random():
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.1).astype(int)
    good = labels + rng.normal(0, 0.5, 300)
    noise = rng.normal(0, 1, 300)
    ax = sl.pl.grn_pr_curves({"scLong": (labels, good), "random scores": (labels, noise)}, show=False)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["scLong", "random scores", "random"]
    assert lines[2].get_ydata()[0] == pytest.approx(labels.mean())
    # the informative scores reach a higher precision at low recall than the noise
    areas = [abs(np.trapezoid(line.get_ydata(), line.get_xdata())) for line in lines[:2]]
    assert areas[0] > 2 * areas[1]
    assert ax.get_xlabel() == "Recall" and ax.get_ylabel() == "Precision"
    assert len(ax.get_legend().get_texts()) == 3


def test_grn_pr_curves_accepts_candidate_edge_frames():
    frame = pd.DataFrame({"label": [1, 0, 0, 1, 0], "score": [0.9, 0.8, 0.1, 0.7, 0.2]})
    ax = sl.pl.grn_pr_curves({"m": frame}, random_line=False, show=False)
    assert [line.get_label() for line in ax.get_lines()] == ["m"]
    assert ax.get_lines()[0].get_ydata().max() == 1.0
    with pytest.raises(ValueError, match="lacks the columns"):
        sl.pl.grn_pr_curves({"m": frame[["label"]]}, show=False)


def test_grn_pr_curves_rejects_mismatched_input():
    with pytest.raises(ValueError, match="same length"):
        sl.pl.grn_pr_curves({"m": ([0, 1, 1], [0.1, 0.2])}, show=False)
    with pytest.raises(ValueError, match="at least one true edge"):
        sl.pl.grn_pr_curves({"m": ([0, 0], [0.1, 0.2])}, show=False)


def test_grn_scores_one_panel_per_metric():
    table = pd.DataFrame(
        {"AUPR ratio": [1.35, 1.11, 1.02], "EPR": [2.0, 1.5, 1.1]}, index=["scLong", "DeepSEM", "GO graph"]
    )
    axes = sl.pl.grn_scores(table, show=False)
    assert len(axes) == 2
    for ax, metric in zip(axes, table.columns, strict=True):
        assert len(ax.patches) == 3
        assert ax.get_ylabel() == metric
        assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 1.0 for line in ax.get_lines())
    assert _bar_heights(axes[1]) == pytest.approx([2.0, 1.5, 1.1])
    with pytest.raises(ValueError, match="not columns"):
        sl.pl.grn_scores(table, metrics=["AUROC"], show=False)


def test_perturbation_scores_grouped_bars_with_error_bars():
    rows = []
    for split in ("Seen 0/1", "Seen 0/2"):
        for method, base in (("scLong", 0.6), ("No-Change", 0.0), ("Mean change", 0.5)):
            rows += [{"split": split, "method": method, "pearson": base + delta} for delta in (-0.05, 0.05)]
    ax = sl.pl.perturbation_scores(pd.DataFrame(rows), show=False)
    assert len(_bars(ax)) == 3  # one bar container per method
    assert len(ax.patches) == 6  # 2 splits x 3 methods
    assert _bar_heights(ax) == pytest.approx([0.6, 0.6, 0.0, 0.0, 0.5, 0.5])
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["scLong", "No-Change", "Mean change"]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["Seen 0/1", "Seen 0/2"]
    # two observations per bar -> an error bar (sd = 0.0707) on every bar
    caps = [container.errorbar for container in _bars(ax)]
    assert all(cap is not None for cap in caps)
    segments = caps[0].lines[2][0].get_segments()
    assert segments[0][1][1] - segments[0][0][1] == pytest.approx(2 * np.std([-0.05, 0.05], ddof=1))


def test_perturbation_scores_rejects_missing_column():
    with pytest.raises(ValueError, match="columns"):
        sl.pl.perturbation_scores(pd.DataFrame({"split": ["a"], "pearson": [0.1]}), show=False)


def test_gi_scatter_points_diagonal_and_labels():
    true = np.array([0.5, 1.0, 1.5, 2.0])
    predicted = np.array([0.6, 0.9, 1.7, 1.8])
    ax = sl.pl.gi_scatter(true, predicted, labels=["A+B", "C+D", "E+F", "G+H"], n_labels=2, show=False)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 4
    assert len(ax.get_lines()) == 1  # y = x
    assert sorted(text.get_text() for text in ax.texts) == ["E+F", "G+H"]
    assert ax.get_title() == f"Pearson r = {np.corrcoef(true, predicted)[0, 1]:.2f} (n = 4)"


def test_marker_clustermap_highlights_markers(tmp_path):
    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(12)]
    vectors = rng.normal(size=(12, 5))
    vectors[:4] += 3  # the markers share a direction and should cluster together
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = pd.DataFrame(unit @ unit.T, index=genes, columns=genes)
    grid = sl.pl.marker_clustermap(
        similarity, markers=["G0", "G1", "G2", "G3", "absent"], show=False, save=tmp_path / "markers.png"
    )
    labels = grid.ax_heatmap.get_yticklabels()
    assert len(labels) == 12 and len(grid.ax_heatmap.get_xticklabels()) == 12
    red = {label.get_text() for label in labels if to_hex(label.get_color()) == HIGHLIGHT_COLOR}
    assert red == {"G0", "G1", "G2", "G3"}
    order = grid.dendrogram_row.reordered_ind
    marker_positions = sorted(order.index(i) for i in range(4))
    assert marker_positions[-1] - marker_positions[0] == 3  # contiguous block
    assert grid.ax_row_colors is not None
    assert (tmp_path / "markers.png").is_file()


def test_marker_clustermap_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        sl.pl.marker_clustermap(pd.DataFrame(np.ones((2, 3))), show=False)


def test_shared_parameter_docs_are_filled_in():
    from sclong_tl.pl._utils import doc_params

    for function in (sl.pl.grn_pr_curves, sl.pl.batch_asw, sl.pl.perturbation_scores, sl.pl.gi_scatter):
        assert "{ax_figsize_show_save}" not in function.__doc__
        assert "    ax\n        Axes to draw into" in function.__doc__
    with pytest.raises(ValueError, match=r"no \{fragment\} field"):
        doc_params(fragment="text")(lambda: None)
