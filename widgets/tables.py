"""Small text widgets beside the figures: clickable top-k lists and 'better than chance?' lines."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from ipywidgets import HTML, Layout, Select, VBox

from core.baselines import Baseline


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


def chance_line(label: str, result: Baseline) -> str:
    """One line of HTML: how the observed statistic compares with a null distribution of ``result.n`` draws."""
    verdict = "better than chance" if result.p_value < 0.05 else "not clearly better than chance"
    return (
        f"<div class='mlprec-chance'><b>{html.escape(label, quote=False)}</b>: p = {result.p_value:.3g}, "
        f"percentile {result.percentile:.1f} of {result.n} draws (null mean {result.null_mean:.3f}, "
        f"95th {result.null_p95:.3f}) → {verdict}</div>"
    )
