"""What the target reads as: its vocabulary tokens at the layer (beside Part 2) and through the layers
(beside Part 3), by the logit lens or the raw projection (core.vocab). No forward pass: one matrix product
with the output embedding per layer and alpha, memoised."""

from __future__ import annotations

import html

from ipywidgets import HTML, HBox, Layout, ToggleButtons

from core.labels import visible
from core.vocab import LENSES, READINGS, VocabError, reader

from ..controls import bind
from ..tables import highlight_layer, layer_row
from .extra import ExtraView

K = 10
NAMES = {"target": "Target", "mean_a": "Mean A", "mean_b": "Mean B"}


def _cell(entry, extra: str = "") -> str:
    token_id, text, logit = entry
    title = html.escape(f"id {token_id} · logit {logit:.3f}")
    return f"<td title='{title}'{extra}>{html.escape(visible(text), quote=False)} <small>{logit:.2f}</small></td>"


def _empty(why: str) -> str:
    return f"<div class='mlprec-notice'>{html.escape(why, quote=False)}</div>"


class VocabView(ExtraView):
    title = "Part 2 · What the target reads as"
    explanation = (
        "The target, mean A and mean B at the chosen layer, read through the vocabulary: the tokens whose output "
        "embedding they point to most (top) and least (bottom). Logit lens: through the model's final norm first; "
        "raw: the output embedding times the vector (Geva et al.). Hover a token for its id and logit."
    )
    css_class = "mlprec-vocab"
    slice_traits = ("layer", "alpha", "lens")

    def build(self):
        self.lens = ToggleButtons(options=list(LENSES), style={"button_width": "110px"})
        self.lens.add_class("mlprec-lens")
        bind(self.state, "lens", self.lens, self._tell)
        self.note = HTML()
        self.note.add_class("mlprec-vocab-note")
        self.tables = HTML()
        self.tables.add_class("mlprec-vocab-tables")
        return [HBox([self.lens, self.note], layout=Layout(align_items="center")), self.tables]

    def warm(self, bench, layer):
        try:
            reader(bench).at_layer(layer, self.state.alpha, self.state.lens, K)
        except VocabError:
            pass  # refresh says why the panel is empty

    def refresh(self, changed):
        try:
            lens = reader(self.bench)
        except VocabError as err:
            self.lens.disabled = True
            self.note.value = ""
            self.tables.value = _empty(f"Nothing to read: {err}")
            return
        self.lens.disabled = not lens.head.predicts
        used = lens.lens_used(self.state.lens)
        self.note.value = f"<span class='mlprec-count'>{html.escape(lens.note, quote=False)}</span>"
        readings = lens.at_layer(self.layer, self.state.alpha, self.state.lens, K)
        parts = []
        for side, title in (("top", "Top"), ("bottom", "Bottom")):
            header = "".join(f"<th>{NAMES[name]}</th>" for name in READINGS)
            rows = [
                f"<tr><td>{rank}</td>" + "".join(_cell(getattr(readings[name], side)[rank - 1]) for name in READINGS)
                for rank in range(1, len(readings["target"].top) + 1)
            ]
            parts.append(
                f"<div><b>{title} {K} at layer {self.layer} ({html.escape(used)})</b>"
                f"<table class='mlprec-table mlprec-vocab-{side}'><tr><th>#</th>{header}</tr>{''.join(rows)}</table></div>"
            )
        self.tables.value = f"<div style='display:flex;gap:28px;flex-wrap:wrap'>{''.join(parts)}</div>"


class VocabLayersView(ExtraView):
    title = "Part 3 · The target's words through the layers"
    explanation = (
        "The target's top tokens at every layer (rows), best first (columns), with the lens chosen above; the "
        "current layer's row is highlighted. Hover a token for its logit."
    )
    css_class = "mlprec-vocab-layers"
    slice_traits = ("layer", "alpha", "lens")

    def build(self):
        self.table = HTML()
        self.table.add_class("mlprec-vocab-layer-table")
        return [self.table]

    def refresh(self, changed):
        if changed & {"data", "alpha", "lens"}:
            self.table.value = self._table()
        highlight_layer(self.table, self.layer)

    def _table(self) -> str:
        try:
            lens = reader(self.bench)
        except VocabError as err:
            return _empty(f"Nothing to read: {err}")
        rows = lens.through_layers(self.state.alpha, self.state.lens, K)
        header = "".join(f"<th>{rank}</th>" for rank in range(1, K + 1))
        body = "".join(
            f"{layer_row(layer)}<td>{layer}</td>" + "".join(_cell(entry) for entry in row) + "</tr>"
            for layer, row in enumerate(rows)
        )
        used = html.escape(lens.lens_used(self.state.lens))
        return (
            f"<b>Target's top {K} by layer ({used}, α = {self.state.alpha:g})</b>"
            f"<table class='mlprec-table'><tr><th>layer</th>{header}</tr>{body}</table>"
        )


def vocab_tables(bench, state) -> dict[str, tuple[list[str], list[tuple]]]:
    """The vocabulary tables for the CSV export (file name -> (header, rows)); none when the hook point has
    no d_model space."""
    try:
        lens = reader(bench)
    except VocabError:
        return {}
    used = lens.lens_used(state.lens)
    readings = lens.at_layer(state.layer, state.alpha, state.lens, K)
    at_layer = [
        (name, side, rank, *entry[:2], f"{entry[2]:.6g}", used)
        for name in READINGS
        for side in ("top", "bottom")
        for rank, entry in enumerate(getattr(readings[name], side), 1)
    ]
    layers = [
        (layer, rank, *entry[:2], f"{entry[2]:.6g}", used)
        for layer, row in enumerate(lens.through_layers(state.alpha, state.lens, K))
        for rank, entry in enumerate(row, 1)
    ]
    return {
        f"vocab-layer{state.layer}.csv": (["vector", "side", "rank", "token_id", "token", "logit", "lens"], at_layer),
        "vocab-layers.csv": (["layer", "rank", "token_id", "token", "logit", "lens"], layers),
    }
