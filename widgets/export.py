"""Export: each figure as PNG or SVG (drawn by the browser), the analysis as report JSON and CSV tables.

Files are named after the model, the layer and the start of text C. Nothing is computed for the panel until
one of its buttons is pressed: the Report and Tables buttons then write a download link (the data itself, as
a data: link) of what is on screen at that moment.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import zipfile

from ipywidgets import HTML, Accordion, Button, Dropdown, HBox, Layout, VBox

from core.report import ReportRequest, bench_report, with_inline_pairs
from core.texts import TEXT_NAMES

from .views.vocab import vocab_tables

MAX_REPORT_PAIRS = 2_000_000  # pair cosines in an exported report (the CLI has no such limit)


def slug(text: str, words: int = 4) -> str:
    """A file-name piece: the first ``words`` words of ``text``, lower case, letters and digits only."""
    parts = re.findall(r"[A-Za-z0-9]+", text)[:words]
    return "-".join(part.lower() for part in parts) or "text"


def csv_tables(bench, state) -> dict[str, str]:
    """The analysis as CSV tables (name -> text): norms, Part 2 at the layer, Part 3, Part 5, and the
    vocabulary readings of the target at the layer and through the layers."""
    labels = {name: bench.labels(name) for name in TEXT_NAMES}
    tables = {}

    def table(name, header, rows):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        tables[name] = out.getvalue()

    table(
        "norms.csv",
        ["text", "layer", "position", "token", "norm"],
        [
            (name, layer, k, labels[name][k], f"{bench.norms[name][layer, k]:.6g}")
            for name in TEXT_NAMES
            for layer in range(bench.n_layers)
            for k in range(len(labels[name]))
        ],
    )
    target = bench.target(state.layer, state.alpha)
    table(
        f"part2-layer{state.layer}.csv",
        ["c_position", "c_token", "cosine_to_target", "recommended"],
        [
            (k, word, f"{value:.6g}", int(k == target.recommended))
            for k, (word, value) in enumerate(zip(labels["C"], target.target_cosines, strict=True))
        ],
    )
    tokens, cosines = bench.recommendations(state.alpha)
    table(
        "part3.csv",
        ["layer", "c_position", "c_token", "cosine"],
        [
            (layer, int(k), labels["C"][k], f"{value:.6g}")
            for layer, (k, value) in enumerate(zip(tokens, cosines, strict=True))
        ],
    )
    best, pairs = bench.max_pairs(state.alpha)
    table(
        "part5.csv",
        ["layer", "c_position", "c_token", "max_cosine", "a_position", "a_token", "b_position", "b_token"],
        [
            (layer, k, labels["C"][k], f"{best[layer, k]:.6g}", int(i), labels["A"][i], int(j), labels["B"][j])
            for layer in range(bench.n_layers)
            for k in range(len(labels["C"]))
            for i, j in [pairs[layer, k]]
        ],
    )
    for name, (header, rows) in vocab_tables(bench, state).items():
        table(name, header, rows)
    return tables


def report_json(bench, state) -> str:
    """The report (format 2) of what the app shows: its texts, hook, layer, alpha, token and baselines."""
    request = ReportRequest(
        model=state.model,
        texts=state.texts(),
        layer=state.layer,
        alpha=state.alpha,
        hook=bench.hook,
        skip_first=bench.skip_first,
        format=2,
        top_k=state.top_k,
        permutations=state.permutations,
        center=bench.center,
        token=state.token,
    )
    return json.dumps(with_inline_pairs(bench_report(bench, request)), ensure_ascii=False)


def _link(name: str, mime: str, data: bytes, text: str, css: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f"<a class='{css}' download='{html.escape(name)}' href='data:{mime};base64,{encoded}'>"
        f"{html.escape(text, quote=False)}</a>"
    )


class Exports:
    """The Export panel: a figure picker with PNG and SVG buttons, and Report / Tables buttons that prepare
    a download link of the results on screen (``session``'s current frame) when pressed."""

    def __init__(self, state, session, figures: dict):
        self.state, self.session, self.figures = state, session, figures
        self.figure = Dropdown(description="Figure", options=list(figures), layout=Layout(width="420px"))
        self.png = Button(description="PNG", icon="image", layout=Layout(width="90px"))
        self.svg = Button(description="SVG", icon="image", layout=Layout(width="90px"))
        self.png.add_class("mlprec-export-png")
        self.svg.add_class("mlprec-export-svg")
        self.png.on_click(lambda _: self.figures[self.figure.value].save_png(self.file_name("png")))
        self.svg.on_click(lambda _: self.figures[self.figure.value].save_svg(self.file_name("svg")))
        self.report = Button(description="Report (JSON)", icon="file-code-o", layout=Layout(width="auto"))
        self.tables = Button(description="Tables (CSV, zip)", icon="table", layout=Layout(width="auto"))
        self.report.add_class("mlprec-export-json")
        self.tables.add_class("mlprec-export-csv")
        self.report.on_click(lambda _: self.prepare("json"))
        self.tables.on_click(lambda _: self.prepare("zip"))
        self.links = HTML()
        self.links.add_class("mlprec-export-links")
        box = VBox([HBox([self.figure, self.png, self.svg]), HBox([self.report, self.tables]), self.links])
        self.widget = Accordion([box], titles=("Export: figures, report JSON, CSV tables",))
        self.widget.selected_index = None

    def file_name(self, extension: str, what: str | None = None) -> str:
        """mlprec-<model>-layer<L>-<text C>[-<what>].<extension>"""
        state = self.state
        model = slug(state.model.rstrip("/").split("/")[-1], 3)
        figure = what if what is not None else slug(self.figure.value, 6)
        return f"mlprec-{model}-layer{state.layer}-{slug(state.text_c)}-{figure}.{extension}"

    def prepare(self, kind: str) -> None:
        """Compute the report ("json") or the tables ("zip") of the results on screen and offer the file."""
        with self.session.lock:
            bench = self.session.feed.frame.bench
            if bench is None:
                self.links.value = "<span>No results yet.</span>"
                return
            if kind == "json":
                self.links.value = self._report_link(bench)
            else:
                self.links.value = self._tables_link(bench)

    def _report_link(self, bench) -> str:
        size = len(bench.labels("A")) * len(bench.labels("B")) * len(bench.labels("C"))
        if size > MAX_REPORT_PAIRS:
            return "<span>The report is too large to download from the page: use python -m core report.</span>"
        data = report_json(bench, self.state).encode("utf-8")
        name = self.file_name("json", "report")
        return _link(name, "application/json", data, f"Download {name}", "mlprec-export-json-file")

    def _tables_link(self, bench) -> str:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in csv_tables(bench, self.state).items():
                bundle.writestr(name, text)
        name = self.file_name("zip", "tables")
        return _link(name, "application/zip", archive.getvalue(), f"Download {name}", "mlprec-export-csv-file")
