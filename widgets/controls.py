"""The controls: each widget bound to one AppState trait; a refused value is told, never raised into the widget."""

from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import (
    HTML,
    Accordion,
    BoundedIntText,
    Button,
    Checkbox,
    Combobox,
    Dropdown,
    FloatRangeSlider,
    FloatSlider,
    GridBox,
    HBox,
    IntSlider,
    Layout,
    Text,
    Textarea,
    VBox,
)
from traitlets import TraitError

from core.checks import HOOK_POINTS
from core.gallery import EXAMPLES
from core.texts import TEXT_NAMES

from .state import AppState

WIDE = {"description_width": "130px"}  # room for the longest description ("Max-pair colour %")


def token_choice(index: int, label: str) -> str:
    """How a C token reads in the Token picker: its position and its text in quotes."""
    return f"{index}: “{label}”"


def bind(state: AppState, trait: str, widget, tell: Callable[[str], None], hold=None) -> None:
    """Keep ``widget.value`` and ``state.<trait>`` equal. A value the state refuses is told with the
    state's message and the widget shows the state's value again; a state value the widget cannot show
    yet (a token before its list is filled) waits for the next frame. ``hold`` (Session.hold) may put off a
    value the browser sent (a slider being dragged)."""

    def apply(value):
        try:
            setattr(state, trait, value)
        except TraitError as err:
            tell(str(err))
            widget.value = getattr(state, trait)

    def to_state(change):
        if change["new"] is None:  # nothing selected is no choice
            return
        from_browser = bool(widget._property_lock)  # ipywidgets sets it while applying a browser's message
        if hold is not None and from_browser and hold(lambda: apply(change["new"])):
            return
        apply(change["new"])

    def to_widget(change):
        try:
            widget.value = change["new"]
        except TraitError:
            pass

    to_widget({"new": getattr(state, trait)})
    widget.observe(to_state, names="value")
    state.observe(to_widget, names=trait)


def model_picker(state: AppState, description: str, placeholder: str, none: bool = False):
    """A model picker: free text with suggestions where free entry is allowed, else the operator's list
    (with a "none" choice of value "" when ``none``)."""
    layout = Layout(width="420px")
    if state.free_model_entry:
        return Combobox(
            description=description,
            options=list(state.model_choices),
            ensure_option=False,
            continuous_update=False,
            placeholder=placeholder,
            style=WIDE,
            layout=layout,
        )
    options = [("none", "")] + [(name, name) for name in state.model_choices] if none else list(state.model_choices)
    return Dropdown(description=description, options=options, style=WIDE, layout=layout)


class Controls:
    """Texts (applied on blur or with Apply), slice controls (Layer, Token, Alpha) and settings.

    ``tell`` shows a refused value's message; ``show_results`` fits the controls to a new frame; ``hold``
    (Session.hold) throttles the Layer slider while it is dragged.
    """

    def __init__(self, state: AppState, tell: Callable[[str], None], hold=None):
        self.state = state
        self.texts = {}
        self.counts = {}
        rows = []
        for name in TEXT_NAMES:
            area = Textarea(
                description=f"Text {name}",
                continuous_update=False,
                rows=2,
                style=WIDE,
                layout=Layout(width="100%"),
            )
            area.add_class(f"mlprec-text-{name.lower()}")
            bind(state, f"text_{name.lower()}", area, tell)
            count = HTML(layout=Layout(width="190px"))
            count.add_class(f"mlprec-count-{name.lower()}")
            self.texts[name], self.counts[name] = area, count
            rows.append(HBox([area, count], layout=Layout(width="100%", align_items="center")))
        self.example = Dropdown(
            description="Example",
            options=[("(your own texts)", "")] + [(name, name) for name in EXAMPLES],
            style=WIDE,
            layout=Layout(width="360px"),
        )
        self.example.add_class("mlprec-example")
        self.example_idea = HTML()
        self.example_idea.add_class("mlprec-example-idea")
        bind(state, "example", self.example, tell)
        state.observe(self._example_shown, names="example")
        self.apply = Button(
            description="Apply", icon="play", tooltip="Run the model on the texts", button_style="primary"
        )
        self.apply.add_class("mlprec-apply")
        self.link_button = Button(
            description="Link to this view",
            icon="link",
            tooltip="A link that reopens this view",
            layout=Layout(width="auto", flex="0 0 auto"),  # never squeezed by the link box beside it
        )
        self.link_button.add_class("mlprec-link-button")
        self.link = Text(placeholder="press “Link to this view”", layout=Layout(width="100%"))
        self.link.add_class("mlprec-link")

        self.layer = IntSlider(description="Layer", min=0, max=max(state.layer, 1), style=WIDE, continuous_update=True)
        self.layer.add_class("mlprec-layer")
        self.token = Dropdown(description="Token", options=[("(none)", 0)], style=WIDE, layout=Layout(width="320px"))
        self.token.add_class("mlprec-token")
        self.alpha = FloatSlider(
            description="Alpha", min=-3.0, max=5.0, step=0.1, readout_format=".2f", style=WIDE, continuous_update=False
        )
        self.alpha.add_class("mlprec-alpha")
        bind(state, "layer", self.layer, tell, hold)  # dragged: throttled (Session.hold)
        for trait, widget in (("alpha", self.alpha), ("token", self.token)):
            bind(state, trait, widget, tell)
        slices = HBox([self.layer, self.token, self.alpha], layout=Layout(flex_flow="row wrap", width="100%"))
        slices.add_class("mlprec-slices")

        self.model = model_picker(state, "Model", "hub id or local folder")
        self.model.add_class("mlprec-model")
        bind(state, "model", self.model, tell)
        self.compare = model_picker(state, "Compare with", "a second model (empty: none)", none=True)
        self.compare.add_class("mlprec-compare-model")
        bind(state, "compare_model", self.compare, tell)
        self.hook = Dropdown(description="Hook point", options=list(HOOK_POINTS), style=WIDE)
        self.hook.add_class("mlprec-hook")
        bind(state, "hook", self.hook, tell)
        self.skip_first = Checkbox(description="Skip first token (attention sink)", indent=False)
        bind(state, "skip_first", self.skip_first, tell)
        self.center = Checkbox(description="Mean-center the vectors (all parts)", indent=False)
        self.center.add_class("mlprec-center")
        bind(state, "center", self.center, tell)
        self.top_k = IntSlider(description="Top k", min=1, max=20, style=WIDE)
        bind(state, "top_k", self.top_k, tell)
        self.permutations = BoundedIntText(
            description="Permutations", min=0, max=100_000, step=100, style=WIDE, tooltip="0 turns the baselines off"
        )
        self.permutations.add_class("mlprec-permutations")
        bind(state, "permutations", self.permutations, tell)
        self.norm_colours = FloatRangeSlider(description="Norm colour %", min=0, max=100, step=1, style=WIDE)
        self.pair_colours = FloatRangeSlider(description="Pair colour", min=-1, max=1, step=0.01, style=WIDE)
        self.sweep_colours = FloatRangeSlider(description="Max-pair colour %", min=0, max=100, step=1, style=WIDE)
        for trait, slider in (
            ("norm_percentiles", self.norm_colours),
            ("pair_limits", self.pair_colours),
            ("sweep_percentiles", self.sweep_colours),
        ):
            bind(state, trait, slider, tell)
        settings = GridBox(
            [
                self.model,
                self.hook,
                self.skip_first,
                self.center,
                self.top_k,
                self.permutations,
                self.norm_colours,
                self.pair_colours,
                self.sweep_colours,
            ],
            layout=Layout(grid_template_columns="repeat(auto-fit, minmax(400px, 1fr))", width="100%"),
        )
        self.settings = Accordion([settings], titles=("Model, hook point, chance baselines and colours",))
        self.settings.selected_index = None
        examples = HBox([self.example, self.example_idea], layout=Layout(width="100%", align_items="center"))
        actions = HBox([self.apply, self.link_button, self.link], layout=Layout(width="100%", align_items="center"))
        self.widget = VBox([examples, *rows, actions, slices, self.settings], layout=Layout(width="100%"))
        self.widget.add_class("mlprec-controls")

    def _example_shown(self, change):
        example = EXAMPLES.get(change["new"])
        idea = f"<span class='mlprec-count'>{html.escape(example.idea, quote=False)}</span>" if example else ""
        self.example_idea.value = idea

    def show_results(self, bench) -> None:
        """Fit the slice controls to new results: layer range, the C tokens, token counts."""
        self.layer.max = bench.n_layers - 1
        with self.token.hold_sync():  # unselected while the options change, so none is taken as a choice
            self.token.index = None
            self.token.options = [(token_choice(k, label), k) for k, label in enumerate(bench.labels("C"))]
            self.token.value = self.state.token
        for name in TEXT_NAMES:
            text = bench.texts[name]
            line = f"{text.n_input_tokens} tokens · {len(text.labels)} analysed"
            if text.truncated:
                line += (
                    f"<br><b>cut to the model's context ({text.n_input_tokens} of {text.activations.n_tokens_full})</b>"
                )
            self.counts[name].value = f"<span class='mlprec-count'>{line}</span>"

    def set_busy(self, busy: bool) -> None:
        """Disable what would start new work while the model loads or runs."""
        for widget in (*self.texts.values(), self.apply, self.model, self.hook, self.skip_first, self.center):
            widget.disabled = busy
