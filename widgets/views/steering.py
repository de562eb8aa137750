"""What the target does: steer the model with it (activation addition, core.steer) and compare its next
words with and without. Runs on a button, in a background thread, with progress."""

from __future__ import annotations

import html
import logging
import threading

from ipywidgets import HTML, Button, FloatSlider, HBox, IntProgress, Layout, Textarea, ToggleButtons

from core.head import output_head
from core.labels import visible
from core.steer import DEFAULT_GENERATE, DIRECTIONS, STEER_HOOKS, SteerError, steerer

from ..controls import bind
from .extra import ExtraView

log = logging.getLogger(__name__)


def _top_table(title: str, entries, css: str) -> str:
    rows = "".join(
        f"<tr><td>{rank}</td><td>{token_id}</td><td>{html.escape(visible(text), quote=False)}</td><td>{prob:.3f}</td></tr>"
        for rank, (token_id, text, prob) in enumerate(entries, 1)
    )
    return (
        f"<div><b>{html.escape(title)}</b><table class='mlprec-table {css}'>"
        f"<tr><th>#</th><th>id</th><th>token</th><th>probability</th></tr>{rows}</table></div>"
    )


def _continuation(title: str, prompt: str, text: str | None, css: str) -> str:
    if text is None:
        return ""
    return (
        f"<div class='{css}'><b>{html.escape(title)}</b>: <span style='white-space:pre-wrap'>"
        f"{html.escape(prompt, quote=False)}<b>{html.escape(text, quote=False)}</b></span></div>"
    )


class SteeringView(ExtraView):
    title = "Steering · What the target does"
    explanation = (
        "Add the steering direction, scaled to strength × (mean norm of C's vectors at this hook and layer), to "
        "the hooked output at every position of the prompt (activation addition), and compare the model's next "
        "token and a greedy continuation of 20 tokens with and without it. Strength 0 is the plain model; the "
        "prompt is text C unless you type another. Press Steer to run."
    )
    css_class = "mlprec-steering"
    slice_traits = ("layer", "alpha", "steer_strength", "steer_direction", "steer_prompt", "text_c")

    def build(self):
        self.prompt = Textarea(
            placeholder="empty: text C", rows=2, continuous_update=False, layout=Layout(width="100%")
        )
        self.prompt.add_class("mlprec-steer-prompt")
        bind(self.state, "steer_prompt", self.prompt, self._tell)
        self.strength = FloatSlider(description="Strength", min=-20.0, max=20.0, step=0.5, continuous_update=False)
        self.strength.add_class("mlprec-steer-strength")
        bind(self.state, "steer_strength", self.strength, self._tell)
        self.direction = ToggleButtons(options=list(DIRECTIONS), style={"button_width": "80px"})
        self.direction.add_class("mlprec-steer-direction")
        bind(self.state, "steer_direction", self.direction, self._tell)
        self.run_button = Button(description="Steer", icon="play", button_style="primary")
        self.run_button.add_class("mlprec-steer-run")
        self.run_button.on_click(lambda _: self.start())
        self.progress = IntProgress(min=0, max=1, value=0, layout=Layout(width="200px", visibility="hidden"))
        self.progress.add_class("mlprec-steer-progress")
        self.status = HTML()
        self.status.add_class("mlprec-steer-status")
        self.output = HTML()
        self.output.add_class("mlprec-steer-output")
        self.worker: threading.Thread | None = None
        row = HBox([self.strength, self.direction, self.run_button, self.progress], layout=Layout(flex_flow="row wrap"))
        return [self.prompt, row, self.status, self.output]

    def _prompt_text(self) -> str:
        typed = self.state.steer_prompt
        return typed if typed.strip() else self.state.text_c

    def _settings(self) -> tuple:
        state = self.state
        return (
            self._prompt_text(),
            self.layer,
            state.alpha,
            state.steer_strength,
            state.steer_direction,
            DEFAULT_GENERATE,
        )

    def _blocked(self) -> str | None:
        """Why steering cannot run on the results shown, or None."""
        if self.bench.hook not in STEER_HOOKS:
            return f"Steering adds a vector to the residual stream: {self.bench.hook} has no d_model space; choose mlp_out, attn_out or resid_post."
        head = output_head(self.bench.model)
        if not head.predicts:
            return f"Steering needs a model that predicts the next token: {head.note}"
        return None

    def refresh(self, changed):
        blocked = self._blocked()
        self.run_button.disabled = blocked is not None or self.running
        if blocked:
            self.status.value = f"<div class='mlprec-notice'>{html.escape(blocked, quote=False)}</div>"
            self.output.value = ""
            return
        found = steerer(self.bench).cached(*self._settings())
        if found is not None:
            self._show(found)
        elif not self.running:
            self.output.value = ""
            self.status.value = (
                f"<span class='mlprec-count'>Press Steer to run at layer {self.layer} "
                f"(strength {self.state.steer_strength:g}, direction {html.escape(self.state.steer_direction)}).</span>"
            )

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def start(self) -> None:
        """Run the current settings in a background thread (the button's action)."""
        if self.bench is None or self.running or self._blocked():
            return
        bench, settings = self.bench, self._settings()
        self.run_button.disabled = True
        self.progress.value, self.progress.layout.visibility = 0, "visible"
        self.status.value = "<span class='mlprec-busy'>Steering…</span>"
        self.worker = threading.Thread(target=self._run, args=(bench, settings), daemon=True, name="mlprec-steer")
        self.worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a run has finished; True if none is running."""
        if self.worker is not None:
            self.worker.join(timeout)
        return not self.running

    def _progress(self, done: int, total: int) -> None:
        self.progress.max, self.progress.value = total, done

    def _run(self, bench, settings) -> None:
        try:
            result = steerer(bench).run(*settings, progress=self._progress)
        except (SteerError, ValueError) as err:
            self._failed(str(err))
        except Exception as err:  # the forward pass failed: the hook is already gone (core.steer)
            log.exception("steering failed")
            self._failed(f"Steering failed: {err}")
        else:
            if bench is self.bench:
                self._show(result)
        finally:
            self.progress.layout.visibility = "hidden"
            self.run_button.disabled = self.bench is None or self._blocked() is not None

    def _failed(self, message: str) -> None:
        self.status.value = f"<div class='mlprec-error'>{html.escape(message, quote=False)}</div>"
        self._tell(message)

    def _show(self, result) -> None:
        notice = ""
        if result.truncated:
            notice = (
                f" The prompt has {result.n_prompt_full} tokens: only the first {len(result.prompt_ids)} are used "
                f"(the model's context less the {DEFAULT_GENERATE}-token continuation)."
            )
        self.status.value = (
            f"<span class='mlprec-count'>Layer {result.layer}, {html.escape(result.hook)}, strength "
            f"{result.strength:g} × r = {result.scale:.3g}, direction {html.escape(result.direction)}. "
            f"KL(plain ‖ steered) = <b class='mlprec-steer-kl'>{result.kl:.4f}</b> nats."
            f"{html.escape(notice, quote=False)}</span>"
        )
        prompt = self.bench.model.tokenizer.decode(list(result.prompt_ids))
        self.output.value = (
            "<div style='display:flex;gap:28px;flex-wrap:wrap'>"
            + _top_table("Next token, plain", result.plain_top, "mlprec-steer-plain")
            + _top_table("Next token, steered", result.steered_top, "mlprec-steer-steered")
            + "</div>"
            + _continuation("Plain", prompt, result.plain_text, "mlprec-steer-plain-text")
            + _continuation("Steered", prompt, result.steered_text, "mlprec-steer-steered-text")
        )
