"""The Dashboard: the layout of the controls, the messages and the views around one AppState and one Session."""

from __future__ import annotations

import os

from ipywidgets import HTML, Layout, VBox
from traitlets import TraitError

from core.cache import ActivationCache
from core.texts import TEXT_NAMES

from .controls import Controls
from .data import figure_data
from .environment import disk_store, model_choices, page_query, served, starting_model
from .export import Exports
from .lecture import Lecture
from .links import page_link, parse_query
from .messages import Messages
from .session import Session
from .state import AppState
from .style import STYLE
from .views.base import View
from .views.compare import CompareView
from .views.geometry import GeometryView
from .views.layers import LayersView
from .views.norms import NormsView
from .views.pairs import PairsView
from .views.steering import SteeringView
from .views.sweep import SweepView
from .views.target import TargetView
from .views.vocab import VocabLayersView, VocabView

# The sections of the page, in order, by name (``Dashboard.views[name]``). A new view is one entry here.
VIEWS: dict[str, type[View]] = {
    "norms": NormsView,
    "target": TargetView,
    "vocab": VocabView,
    "layers": LayersView,
    "vocab_layers": VocabLayersView,
    "pairs": PairsView,
    "sweep": SweepView,
    "steering": SteeringView,
    "geometry": GeometryView,
}
LINK_TRAITS = (  # set as one action
    *("model", "example", "text_a", "text_b", "text_c", "hook", "center", "alpha"),
    *("lens", "steer_strength", "steer_direction", "steer_prompt"),
)


class Dashboard:
    """The app. ``Dashboard(model=...)`` builds it and loads the model (MLPREC_MODEL, else gpt2).

    ``state`` is the AppState every control writes; ``session`` (widgets.session.Session) loads, runs
    and publishes the frames every view draws from. ``background`` loads models in a thread so the page
    shows progress (default: only when served by Voila; otherwise the constructor returns with the
    results drawn, so that ``nbconvert --execute`` saves finished figures). ``query`` is a URL query of
    settings (widgets.links); served by Voila it defaults to the page's own. ``lecture`` opens lecture mode.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        background: bool | None = None,
        cache: ActivationCache | None = None,
        query: str | None = None,
        lecture: bool = False,
    ):
        name = starting_model(model)
        choices, free = model_choices(name)
        self.state = state = AppState(model_choices=choices, free_model_entry=free, model=name)
        self.messages = Messages(on_fallback=lambda fallback: setattr(state, "model", fallback))
        self.session = Session(
            state,
            self.messages,
            cache=cache if cache is not None else ActivationCache(disk=disk_store()),  # an empty cache is falsy
            background=served() if background is None else background,
        )
        tell = self.messages.tell
        self.controls = Controls(state, tell, hold=self.session.hold)
        self.messages.on_busy.append(self.controls.set_busy)
        self.session.feed.subscribe(lambda _: self.controls.show_results(self.session.feed.frame.bench), {"data"})
        self.views = {key: view(state, self.session.feed, tell) for key, view in VIEWS.items()}
        self.comparison = CompareView(state, self.session.feed, self.session.compared_feed, tell, self.controls.compare)
        self.exports = Exports(state, self.session, self._figures())
        self.lecture: Lecture | None = None
        self.controls.apply.on_click(lambda _: self.session.request(["run"]))
        self.controls.link_button.on_click(lambda _: self._show_link())
        self.widget = VBox(
            [HTML(STYLE), self.messages.status, self.messages.area, self.messages.fallback, self.controls.widget]
            + [self.exports.widget]
            + [view.widget for view in self.views.values()]
            + [self.comparison.widget],
            layout=Layout(width="100%"),
        )
        self.widget.add_class("mlprec-app")
        with self.session.transaction():  # the link's settings and the first load: one run
            self.session.request(["model"])
            self.apply_link(page_query(query))
        if lecture and self.lecture is None:
            self.start_lecture()

    def _repr_mimebundle_(self, **kwargs):
        """The app's widget view and a one-line text (ipywidgets' own bundle builds the repr of all ~640
        widgets to keep 110 characters of it: ~90 ms on a served page's critical path)."""
        return {
            "text/plain": f"Dashboard(model={self.state.model!r})",
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id,
            },
        }

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background load has finished; True if nothing is still loading."""
        return self.session.wait(timeout)

    # --- links ----------------------------------------------------------------------------------

    def apply_link(self, query: str) -> dict:
        """Apply a link's settings (a URL query, widgets.links) as one action: one run, one frame.

        Whatever is refused is told in one message once the action is done; the rest applies. Works
        before the first results and on a running app alike. Returns the settings read.
        """
        settings, problems = parse_query(query)
        with self.session.transaction():
            for key in LINK_TRAITS:
                if key in settings:
                    try:
                        setattr(self.state, key, settings[key])
                    except TraitError as err:
                        problems.append(str(err))
            wanted = {key: settings[key] for key in ("layer", "token") if key in settings}
            self.session.request(wanted=wanted, notes=problems)
        if settings.get("lecture"):
            self.start_lecture(settings.get("step", 1))
        return settings

    def _show_link(self) -> None:
        self.controls.link.value = page_link(os.environ.get("VOILA_REQUEST_URL", ""), self.state)

    def start_lecture(self, step: int = 1) -> None:
        """Lecture mode: one part at a time with Next/Back and larger type (the controls stay live)."""
        if self.lecture is None:
            views = list(self.views.values())
            self.lecture = Lecture([view.widget for view in views], [view.title for view in views], step)
            self.comparison.widget.layout.display = "none"
            self.widget.add_class("mlprec-lecture")
            children = list(self.widget.children)
            at = children.index(self.controls.widget) + 1
            self.widget.children = children[:at] + [self.lecture.widget] + children[at:]
        self.lecture.go(step)

    def _figures(self) -> dict:
        """Every figure of the five parts by a readable name (for export)."""
        views = self.views
        figures = {f"Part 1 · text {name} norms": views["norms"].heatmaps[name].figure for name in TEXT_NAMES}
        figures.update(
            {
                "Part 2 · mean vectors": views["target"].means_figure,
                "Part 2 · mean A vs mean B": views["target"].scatter_figure,
                "Part 2 · similarity to the target": views["target"].similarity_figure,
                "Part 3 · recommendations by layer": views["layers"].figure,
                "Part 4 · pairs for the selected token": views["pairs"].main.figure,
            }
        )
        overview = enumerate(views["pairs"].overview, 1)
        figures.update({f"Part 4 · overview {k}": heatmap.figure for k, heatmap in overview})
        figures["Part 5 · max similarity by layer and token"] = views["sweep"].heatmap.figure
        figures["Geometry · A → B → target (PCA)"] = views["geometry"].figure
        return figures

    def data(self) -> dict:
        """Every figure's numbers for the frame on screen, {figure name: widgets.data.Table}: numpy arrays with
        their labels, ``.frame()`` for a pandas DataFrame. Raises RuntimeError before the first results."""
        frame = self.session.feed.frame
        if frame.bench is None:
            raise RuntimeError("No results yet: the model is still loading or could not run on the texts.")
        return figure_data(frame.bench, frame.layer, frame.token, self.state.alpha)
