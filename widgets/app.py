"""The Dashboard: controls, a status line, a message area and the five views, around one AppState."""

from __future__ import annotations

import html
import logging
import os
import threading
import time

from ipywidgets import HTML, Button, Layout, VBox

from core.cache import ActivationCache, TextError
from core.diskcache import DiskStore
from core.models import DEFAULT_MODEL, HOOK_POINTS, ModelError, load_model, packaged_model
from core.texts import TEXT_NAMES
from core.workbench import Workbench

from .controls import Controls
from .export import Exports
from .lecture import Lecture
from .links import page_link, parse_query
from .state import DATA_TRAITS, AppState, Results
from .style import STYLE
from .views.compare import CompareView
from .views.layers import LayersView
from .views.norms import NormsView
from .views.pairs import PairsView
from .views.sweep import SweepView
from .views.target import TargetView

log = logging.getLogger(__name__)


def served() -> bool:
    """True inside a kernel started by Voila (it sets VOILA_BASE_URL for its kernels)."""
    return "VOILA_BASE_URL" in os.environ


def model_choices(current: str) -> tuple[list[str], bool]:
    """The models offered in the picker, and whether any other name may be typed.

    The operator's MLPREC_MODELS (comma-separated) if set, else the starting model (and distilgpt2
    outside Voila); the installed offline fallback is always offered. Served by Voila, only these
    are allowed unless MLPREC_ALLOW_ANY_MODEL=1, so visitors cannot make the server download
    arbitrary repositories; in JupyterLab any hub id or folder may be typed.
    """
    listed = [name.strip() for name in os.environ.get("MLPREC_MODELS", "").split(",") if name.strip()]
    choices = listed or ([current] if served() else [current, DEFAULT_MODEL, "distilgpt2"])
    fallback = packaged_model()
    if fallback:
        choices.append(fallback)
    free = not served() or os.environ.get("MLPREC_ALLOW_ANY_MODEL", "").lower() in ("1", "true", "yes")
    return list(dict.fromkeys(choices)), free


def disk_store() -> DiskStore | None:
    """The persistent activation store (MLPREC_CACHE_DIR, else ~/.cache/mlprec-dashboard/activations),
    shared by every session of this machine; MLPREC_DISK_CACHE=off keeps activations in memory only."""
    if os.environ.get("MLPREC_DISK_CACHE", "on").lower() in ("off", "0", "false", "no"):
        return None
    return DiskStore()


class Dashboard:
    """The app. ``Dashboard(model=...)`` builds it and loads the model (MLPREC_MODEL, else gpt2).

    ``state`` is the AppState every control and view shares; ``background=True`` loads models in a
    thread so that the page shows its progress (Voila); otherwise loading finishes in the constructor.
    ``query`` is a URL query of settings (widgets.links); served by Voila it defaults to the page's own.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        background: bool = False,
        cache: ActivationCache | None = None,
        query: str | None = None,
        lecture: bool = False,
    ):
        name = model or os.environ.get("MLPREC_MODEL") or DEFAULT_MODEL
        choices, free = model_choices(name)
        self.state = AppState(model_choices=choices, free_model_entry=free, model=name)
        self.state.on_refusal(self.report)
        self.results = Results()
        self.cache = cache if cache is not None else ActivationCache(disk=disk_store())  # an empty cache is falsy
        self.loaded = None
        self.background = background
        self.busy = False
        self._reverting = False
        self._last_run: tuple[int, int] | None = None  # forward passes and disk hits of the last run
        self._pending_slice: dict = {}  # a link's layer and token, applied once results exist
        self._collected: list[str] | None = None  # refusals being gathered into one message
        self._link_notes: list[str] = []  # what a link asked for and did not get, shown after the first run
        self._loader: threading.Thread | None = None
        self.controls = Controls(self.state)
        self.status = HTML()
        self.status.add_class("mlprec-status")
        self.message = HTML()
        self.message.add_class("mlprec-message")
        self.fallback = Button(icon="life-ring", button_style="warning", layout=Layout(display="none", width="auto"))
        self.fallback.add_class("mlprec-fallback")
        self.fallback.on_click(lambda _: self._use_fallback())
        self.compared_results = Results()
        self.compared = None
        self.views = [
            view(self.state, self.results, self.report)
            for view in (NormsView, TargetView, LayersView, PairsView, SweepView)
        ]
        self.comparison = CompareView(
            self.state, self.results, self.compared_results, self.report, self.controls.compare
        )
        self.exports = Exports(self.state, self.results, self._figures())
        self.widget = VBox(
            [HTML(STYLE), self.status, self.message, self.fallback, self.controls.widget, self.exports.widget]
            + [view.widget for view in self.views]
            + [self.comparison.widget],
            layout=Layout(width="100%"),
        )
        self.widget.add_class("mlprec-app")
        # A link's settings go in before anything observes the state: the model is then loaded once.
        settings = self._apply_link(os.environ.get("QUERY_STRING", "") if query is None and served() else query or "")
        self.state.observe(self._model_changed, names="model")
        self.state.observe(self._compared_model_changed, names="compare_model")
        self.state.observe(lambda change: self.run(), names=[t for t in DATA_TRAITS if t != "model"])
        self.controls.apply.on_click(lambda _: self.run())
        self.controls.link_button.on_click(lambda _: self._show_link())
        self.lecture = None
        if lecture or settings.get("lecture"):
            self.start_lecture(settings.get("step", 1))
        self._start_loading(self.state.model)

    # --- links ----------------------------------------------------------------------------------

    def start_lecture(self, step: int = 1) -> None:
        """Lecture mode: one part at a time with Next/Back and larger type (the controls stay live)."""
        if self.lecture is None:
            sections = [view.widget for view in self.views]
            self.lecture = Lecture(sections, [view.title for view in self.views], step)
            self.comparison.widget.layout.display = "none"
            self.widget.add_class("mlprec-lecture")
            children = list(self.widget.children)
            at = children.index(self.controls.widget) + 1
            self.widget.children = children[:at] + [self.lecture.widget] + children[at:]
        self.lecture.go(step)

    def _apply_link(self, query: str) -> dict:
        """Take the settings of a URL query; whatever is refused is reported in one message."""
        settings, problems = parse_query(query)
        self._collected = problems
        try:
            for key in ("model", "hook", "center", "alpha", "text_a", "text_b", "text_c"):
                if key in settings:
                    setattr(self.state, key, settings[key])
        finally:
            self._collected = None
        self._pending_slice = {key: settings[key] for key in ("layer", "token") if key in settings}
        self._link_notes = problems
        if problems:
            self.report(" ".join(problems))
        return settings

    def apply_link(self, query: str) -> None:
        """Apply a link's settings (a URL query, widgets.links) to an app already built with results, as one
        run: a preheated page gets its visitor's link this way. Refusals are reported in one message; a
        model the link names is loaded after the other settings are in (its load runs the texts once)."""
        settings, problems = parse_query(query)
        held = self.busy
        # While busy (and reverting), the state's observers neither run nor load: one run or load below.
        self._collected, self.busy, self._reverting = problems, True, True
        try:
            for key in ("model", "hook", "center", "alpha", "text_a", "text_b", "text_c"):
                if key in settings:
                    setattr(self.state, key, settings[key])
        finally:
            self._collected, self.busy, self._reverting = None, held, False
        self._pending_slice = {key: settings[key] for key in ("layer", "token") if key in settings}
        self._link_notes = problems
        if settings.get("lecture"):
            self.start_lecture(settings.get("step", 1))
        if self.loaded is None or self.state.model != self.loaded.name:
            self._start_loading(self.state.model)
        else:
            self.run()

    def _show_link(self) -> None:
        self.controls.link.value = page_link(os.environ.get("VOILA_REQUEST_URL", ""), self.state)

    def _figures(self) -> dict:
        """Every figure of the five parts by a readable name (for export)."""
        norms, target, layers, pairs, sweep = self.views
        figures = {f"Part 1 · text {name} norms": norms.heatmaps[name].figure for name in TEXT_NAMES}
        figures.update(
            {
                "Part 2 · mean vectors": target.means_figure,
                "Part 2 · mean A vs mean B": target.scatter_figure,
                "Part 2 · similarity to the target": target.similarity_figure,
                "Part 3 · recommendations by layer": layers.figure,
                "Part 4 · pairs for the selected token": pairs.main.figure,
            }
        )
        figures.update({f"Part 4 · overview {k}": heatmap.figure for k, heatmap in enumerate(pairs.overview, 1)})
        figures["Part 5 · max similarity by layer and token"] = sweep.heatmap.figure
        return figures

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # --- messages -----------------------------------------------------------------------------

    def report(self, text: str, kind: str = "error") -> None:
        """Show one message (escaped) in the message area; kind is "error" or "notice"."""
        if self._collected is not None and text:
            self._collected.append(text)
            return
        self.message.value = f"<div class='mlprec-{kind}'>{html.escape(text, quote=False)}</div>" if text else ""

    def _progress(self, text: str) -> None:
        self.status.value = f"<span class='mlprec-busy'>{html.escape(text, quote=False)}</span>"

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.controls.set_busy(busy)

    # --- models ---------------------------------------------------------------------------------

    def _start_loading(self, name: str) -> None:
        if self.background:
            self._loader = threading.Thread(target=self._load, args=(name,), daemon=True, name="mlprec-load")
            self._loader.start()
        else:
            self._load(name)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background load has finished; True if nothing is still loading."""
        if self._loader is not None:
            self._loader.join(timeout)
        return not (self._loader and self._loader.is_alive())

    def _model_changed(self, change) -> None:
        if not self._reverting:
            self._start_loading(change["new"])

    def _load(self, name: str) -> None:
        self._set_busy(True)
        self._progress(f"Loading model “{name}”…")
        try:
            model = load_model(name, progress=self._progress)
        except ModelError as err:
            self._load_failed(name, str(err))
            return
        except Exception as err:  # an unexpected failure still leaves the app usable
            log.exception("loading %s failed", name)
            self._load_failed(name, f"Model “{name}” could not be loaded: {err}")
            return
        finally:
            self._set_busy(False)
        self.loaded = model
        self.fallback.layout.display = "none"
        self.run()

    def _load_failed(self, name: str, reason: str) -> None:
        if self.loaded is not None:
            self._reverting = True
            try:
                self.state.model = self.loaded.name
            finally:
                self._reverting = False
            self.report(f"{reason} Still showing “{self.loaded.name}”.")
            self._ready(self.results.bench)
            return
        self.report(reason)
        self.status.value = "<span class='mlprec-busy'>No model loaded.</span>"
        fallback = packaged_model()
        if fallback and fallback != name:
            self.fallback.description = "Use the installed all-MiniLM-L6-v2 (BERT, offline) instead"
            self.fallback.layout.display = "flex"

    def _compared_model_changed(self, change) -> None:
        name = change["new"]
        if self._reverting:
            return
        if not name:
            self.compared = None
            self.compared_results.clear()
            self.comparison.show(None)
            return
        if self.background:
            threading.Thread(target=self._load_compared, args=(name,), daemon=True, name="mlprec-compare").start()
        else:
            self._load_compared(name)

    def _load_compared(self, name: str) -> None:
        self.comparison.status.value = f"<span class='mlprec-busy'>Loading “{html.escape(name, quote=False)}”…</span>"
        try:
            model = load_model(name)
        except Exception as err:  # ModelError or worse: the first model is untouched
            reason = str(err) if isinstance(err, ModelError) else f"Model “{name}” could not be loaded: {err}"
            self.report(f"{reason} Nothing to compare with.")
            self._reverting = True
            try:
                self.state.compare_model = self.compared.name if self.compared else ""
            finally:
                self._reverting = False
            self.comparison.show(self.compared.name if self.compared else None)
            return
        self.compared = model
        self._run_compared()

    def _run_compared(self) -> None:
        """Results of the compared model on the current texts (its forward passes go through the shared cache)."""
        if self.compared is None:
            return
        state = self.state
        try:
            bench = Workbench.build(
                self.compared, self.cache, state.texts(), state.hook, state.skip_first, center=state.center
            )
        except Exception as err:
            self.report(f"Compared model “{self.compared.name}”: {err}")
            return
        self.compared_results.publish(bench)
        self.comparison.show(
            self.compared.name,
            f"{bench.n_layers} layers, {bench.X('A').shape[-1]} dims; analysed C tokens: {len(bench.labels('C'))}.",
        )

    def _use_fallback(self) -> None:
        self.fallback.layout.display = "none"
        self.state.model = packaged_model()

    # --- runs -----------------------------------------------------------------------------------

    def run(self) -> None:
        """Capture the texts (one forward pass per new text) and publish the results to every view."""
        if self.loaded is None or self.busy:
            return
        self._progress("Running the model on the texts…")
        start = time.perf_counter()
        passes, disk_hits = self.cache.forward_passes, self.cache.disk_hits
        try:
            bench = Workbench.build(
                self.loaded,
                self.cache,
                self.state.texts(),
                self.state.hook,
                self.state.skip_first,
                center=self.state.center,
            )
        except TextError as err:
            self.report(f"{err} The results shown are still those of the previous texts.")
            self._ready(self.results.bench)
            return
        except Exception as err:
            log.exception("run failed")
            self.report(f"The model could not run on these texts: {err}")
            self._ready(self.results.bench)
            return
        self._publish(bench)
        self._run_compared()
        self.report(" ".join(self._link_notes))
        self._link_notes = []
        self._last_run = (self.cache.forward_passes - passes, self.cache.disk_hits - disk_hits)
        self._ready(bench, time.perf_counter() - start)
        truncated = [name for name in TEXT_NAMES if bench.texts[name].truncated]
        if truncated:
            self.report(
                f"Text {', '.join(truncated)} is longer than the model's context of {self.loaded.context} tokens: "
                "only the first tokens are analysed.",
                kind="notice",
            )
        self._drop_failed_disk_store()

    def _drop_failed_disk_store(self) -> None:
        """A disk store that cannot be written (read-only folder, quota full) is dropped, and said so once."""
        disk = self.cache.disk
        if disk is not None and disk.failure:
            self.cache.disk = None
            self.report(
                f"The activation store {disk.folder} cannot be written ({disk.failure}): "
                "this session keeps activations in memory only.",
                kind="notice",
            )

    def _publish(self, bench: Workbench) -> None:
        state = self.state
        n_tokens = len(bench.labels("C"))
        state.layer = min(state.layer, bench.n_layers - 1)
        state.token = min(state.token, n_tokens - 1)
        state.n_layers, state.n_tokens = bench.n_layers, n_tokens
        self.controls.show_results(bench)
        pending, self._pending_slice = self._pending_slice, {}
        self._collected = self._link_notes
        try:
            for key, value in pending.items():  # a link's layer and token, checked against these results
                setattr(state, key, value)
        finally:
            self._collected = None
        self.results.publish(bench)

    def _ready(self, bench: Workbench | None, seconds: float | None = None) -> None:
        if bench is None:
            self.status.value = "<span class='mlprec-busy'>No results yet.</span>"
            return
        model = bench.model
        counts = ", ".join(f"{name} {len(bench.labels(name))}" for name in TEXT_NAMES)
        timing = f" · ran in {seconds:.2f} s" if seconds is not None else ""
        if seconds is not None and self._last_run is not None:
            forward, from_disk = self._last_run
            timing += f" ({forward} forward passes, {from_disk} texts from the disk cache)"
        self.status.value = (
            f"<span class='mlprec-ready'><b>{html.escape(model.name)}</b> · {html.escape(bench.hook)} "
            f"({bench.X('A').shape[-1]} dims: {html.escape(HOOK_POINTS[bench.hook], quote=False)}) · {model.n_layers} layers · "
            f"analysed tokens {counts}{timing}</span>"
        )
