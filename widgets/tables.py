"""Small text widgets beside the figures: clickable top-k lists and the 'better than chance?' verdict lines."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from ipywidgets import HTML, Layout, Select, VBox

from core.baselines import NULL_HYPOTHESIS


class RankedList:
    """A top-k list whose rows can be picked: ``on_pick(value)`` runs when the user picks a row."""

    def __init__(self, heading: str, on_pick: Callable[[object], None], css_class: str, rows: int = 6):
        self._on_pick = on_pick
        self.selected: object = None  # the row marked by the app (not a pick)
        self.heading = HTML()
        self.heading_text = heading
        self.select = Select(options=[], rows=rows, layout=Layout(width="100%"))
        self.select.add_class(css_class)
        self.select.observe(self._picked, names="value")
        self.widget = VBox([self.heading, self.select], layout=Layout(width="100%"))

    def _picked(self, change) -> None:
        if change["new"] is not None and change["new"] != self.selected:
            self.selected = change["new"]
            self._on_pick(change["new"])

    def show(self, rows: Sequence[tuple[str, object]], selected: object = None, heading: str | None = None) -> None:
        """Replace the rows (label, value); mark ``selected`` if it is among them. Picks nothing itself."""
        self.heading.value = f"<b>{html.escape(heading or self.heading_text, quote=False)}</b>"
        values = [value for _, value in rows]
        self.selected = selected if selected in values else None
        with self.select.hold_sync():  # unselected while the rows change, so no row is picked by itself
            self.select.index = None
            self.select.options = list(rows)
            self.select.value = self.selected


MAX_HIGHLIGHTED_LAYER = 127  # the stylesheet can highlight the rows of layers 0-127
_AT_LAYER = "mlprec-at-layer-"


def layer_row(layer: int) -> str:
    """The opening tag of a table row about ``layer``, for ``highlight_layer``."""
    return f"<tr class='mlprec-row-{layer}'>"


def highlight_layer(table: HTML, layer: int) -> None:
    """Highlight the row of ``layer`` (made by ``layer_row``) in the table that ``table`` shows.

    The highlight is a class on the widget that the stylesheet matches with the row (``CURRENT_ROW`` in
    widgets.style), so a Layer step sends one small message instead of the whole table again, and the
    browser restyles two rows instead of parsing and laying out a new table.
    """
    current = f"{_AT_LAYER}{layer}"
    if current in table._dom_classes:
        return
    with table.hold_sync():
        for name in table._dom_classes:
            if name.startswith(_AT_LAYER):
                table.remove_class(name)
        table.add_class(current)


LEVEL = 0.05  # the significance level every verdict is worded against


def verdict(p: float, n: int) -> str:
    """How a p-value from ``n`` permutations reads: better than chance only when p < 0.05."""
    if 1 / (n + 1) >= LEVEL:
        return f"cannot tell: {n} permutations cannot give p < {LEVEL:g} (ask for at least {int(1 / LEVEL)})"
    if p < 0.01:
        return "better than chance (p < 0.01)"
    if p < LEVEL:
        return f"better than chance at the {LEVEL:.0%} level"
    return f"not distinguishable from chance (p ≥ {LEVEL:g})"


def verdict_line(subject: str, p: float, scope: str, details: str, n: int) -> str:
    """The one verdict line of a recommendation (HTML, class ``mlprec-verdict``, its p-value in ``data-p``).

    ``subject`` names the recommendation, ``scope`` says what ``p`` is corrected over, ``details`` gives the
    uncorrected value and the null's summary; all are plain text (escaped here).
    """
    text = html.escape
    return (
        f"<div class='mlprec-verdict' data-p='{p!r}'><b>Better than chance?</b> {text(subject, quote=False)}: "
        f"p = {p:.3g} {text(scope, quote=False)} → <b>{text(verdict(p, n), quote=False)}</b>. "
        f"<span class='mlprec-uncorrected'>{text(details, quote=False)}</span></div>"
    )


def null_line(n: int) -> str:
    """The null hypothesis and the draws behind every verdict (HTML, class ``mlprec-chance``)."""
    return (
        f"<div class='mlprec-chance'>Null hypothesis: {html.escape(NULL_HYPOTHESIS, quote=False)} Each p-value "
        f"compares the observed statistic with {n} random re-splits of the pooled A and B tokens (C unchanged); "
        "corrected values use the max-statistic correction over the family shown.</div>"
    )


def p_pair(corrected: float, uncorrected: float) -> str:
    """Both p-values of one test, for hover text: corrected first."""
    return f"p = {corrected:.3g} corrected ({uncorrected:.3g} uncorrected)"
