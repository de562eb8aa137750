"""The controls: each widget linked to one AppState trait."""

from __future__ import annotations

import html

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
    link,
)

from core.gallery import EXAMPLES
from core.models import HOOK_POINTS
from core.texts import TEXT_NAMES

from .state import AppState

WIDE = {"description_width": "130px"}  # room for the longest description ("Max-pair colour %")


def token_choice(index: int, label: str) -> str:
    """How a C token reads in the Token picker: its position and its text in quotes."""
    return f"{index}: “{label}”"


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
    """Texts (applied on blur or with Apply), slice controls (Layer, Token, Alpha) and settings."""

    def __init__(self, state: AppState):
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
            link((state, f"text_{name.lower()}"), (area, "value"))
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
        self.example.observe(self._example_picked, names="value")
        self.apply = Button(
            description="Apply", icon="play", tooltip="Run the model on the texts", button_style="primary"
        )
        self.apply.add_class("mlprec-apply")
        self.link_button = Button(
            description="Link to this view",
            icon="link",
            tooltip="A link that reopens this view",
            layout=Layout(width="auto"),
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
        link((state, "layer"), (self.layer, "value"))
        link((state, "alpha"), (self.alpha, "value"))
        self.token.observe(self._token_picked, names="value")
        state.observe(self._token_moved, names="token")
        slices = HBox([self.layer, self.token, self.alpha], layout=Layout(flex_flow="row wrap", width="100%"))
        slices.add_class("mlprec-slices")

        self.model = model_picker(state, "Model", "hub id or local folder")
        self.model.add_class("mlprec-model")
        link((state, "model"), (self.model, "value"))
        self.compare = model_picker(state, "Compare with", "a second model (empty: none)", none=True)
        self.compare.add_class("mlprec-compare-model")
        link((state, "compare_model"), (self.compare, "value"))
        self.hook = Dropdown(description="Hook point", options=list(HOOK_POINTS), style=WIDE)
        self.hook.add_class("mlprec-hook")
        link((state, "hook"), (self.hook, "value"))
        self.skip_first = Checkbox(description="Skip first token (attention sink)", indent=False)
        link((state, "skip_first"), (self.skip_first, "value"))
        self.center = Checkbox(description="Mean-center the vectors (all parts)", indent=False)
        self.center.add_class("mlprec-center")
        link((state, "center"), (self.center, "value"))
        self.top_k = IntSlider(description="Top k", min=1, max=20, style=WIDE)
        link((state, "top_k"), (self.top_k, "value"))
        self.permutations = BoundedIntText(
            description="Permutations", min=0, max=100_000, step=100, style=WIDE, tooltip="0 turns the baselines off"
        )
        self.permutations.add_class("mlprec-permutations")
        link((state, "permutations"), (self.permutations, "value"))
        self.norm_colours = FloatRangeSlider(description="Norm colour %", min=0, max=100, step=1, style=WIDE)
        self.pair_colours = FloatRangeSlider(description="Pair colour", min=-1, max=1, step=0.01, style=WIDE)
        self.sweep_colours = FloatRangeSlider(description="Max-pair colour %", min=0, max=100, step=1, style=WIDE)
        for trait, slider in (
            ("norm_percentiles", self.norm_colours),
            ("pair_limits", self.pair_colours),
            ("sweep_percentiles", self.sweep_colours),
        ):
            link((state, trait), (slider, "value"))
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

    def _example_picked(self, change):
        """A gallery example fills the three texts (one run: the texts change together)."""
        example = EXAMPLES.get(change["new"])
        if example is None:
            self.example_idea.value = ""
            return
        self.example_idea.value = f"<span class='mlprec-count'>{html.escape(example.idea, quote=False)}</span>"
        with self.state.hold_trait_notifications():
            self.state.text_a, self.state.text_b, self.state.text_c = example.a, example.b, example.c

    def _token_picked(self, change):
        if change["new"] is not None and change["new"] != self.state.token:
            self.state.token = change["new"]

    def _token_moved(self, change):
        if self.token.value != change["new"]:
            self.token.value = change["new"]

    def show_results(self, bench) -> None:
        """Fit the slice controls to new results: layer range, the C tokens, token counts."""
        self.layer.max = bench.n_layers - 1
        self.token.unobserve(self._token_picked, names="value")
        try:
            self.token.options = [(token_choice(k, label), k) for k, label in enumerate(bench.labels("C"))]
            self.token.value = self.state.token
        finally:
            self.token.observe(self._token_picked, names="value")
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
