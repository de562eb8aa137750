"""The Session: the one owner of the models, the caches and the results; it turns each change of the state into one Frame.

Flow (one way): controls and links write AppState -> the Session observes it -> under one lock it loads
(a model), runs (a Workbench: forward passes through the cache) and publishes one Frame per user
action on its Feed -> every view subscribed to the Feed redraws once. Changes made inside
``Session.transaction()`` (a link, a gallery example, a click that sets layer and token) are one action.
Nothing but the user's controls and the Session's frame (the bounds ``n_layers``/``n_tokens``, a
layer or token pulled into range, a gallery example's texts) writes into the state.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from traitlets import TraitError

from core.cache import ActivationCache
from core.checks import InputError
from core.gallery import EXAMPLES
from core.models import LoadedModel, ModelError, load_model
from core.workbench import Workbench

from .state import DATA_TRAITS, SLICE_TRAITS, VISUAL_TRAITS, AppState

log = logging.getLogger(__name__)

TEXT_TRAITS = ("text_a", "text_b", "text_c")
RUN_TRAITS = frozenset({"run", "example", *TEXT_TRAITS, "hook", "skip_first", "center"})  # "run": Apply
VIEW_NAMES = frozenset({"data", *SLICE_TRAITS, *VISUAL_TRAITS})  # what a Frame's ``changed`` may hold
THROTTLE_S = 0.1  # a dragged slider draws at most one frame per 100 ms, and always its last value (hold)
EXIT_WAIT_S = 4.0  # at exit, how long background work may take to finish (Jupyter kills a kernel after 5 s)
_exiting = threading.Event()  # set when the interpreter ends: warm-ups stop at the next layer


@atexit.register
def _finish_background_work() -> None:
    """Let this app's threads (``mlprec-*``: loads, warm-ups, steering) finish before the interpreter ends.

    A kernel is shut down while its page works (the visitor closed the tab during a model load): torch
    aborts the whole process ("terminate called without an active exception") if the interpreter
    finalises while one of these daemon threads is inside an operator.
    """
    _exiting.set()
    deadline = time.monotonic() + EXIT_WAIT_S
    for thread in threading.enumerate():
        if thread.name.startswith("mlprec-") and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class Frame:
    """Everything a view draws from, published whole.

    ``bench`` is the Workbench on screen (None before the first run), ``layer`` and ``token`` lie within
    its bounds ``n_layers`` and ``n_tokens``; ``changed`` names what differs from the previous frame:
    "data" (a new Workbench) and AppState slice or visual traits. ``number`` counts frames from 1.
    """

    bench: Workbench | None = None
    layer: int = 0
    token: int = 0
    changed: frozenset[str] = field(default_factory=frozenset)
    number: int = 0

    @property
    def n_layers(self) -> int:
        return self.bench.n_layers if self.bench is not None else 0

    @property
    def n_tokens(self) -> int:
        return len(self.bench.labels("C")) if self.bench is not None else 0


class Feed:
    """The frames of one model's results and their subscribers (the views of that model)."""

    def __init__(self, session: Session):
        self.frame = Frame()
        self.session = session
        self._subscribers: list[tuple[Callable[[set[str]], None], frozenset[str]]] = []
        self.warmers: list[Callable[[Workbench, int], None]] = []  # compute what a layer will show, ahead

    def subscribe(self, callback: Callable[[set[str]], None], names: Iterable[str]) -> None:
        """Call ``callback(changed & names)`` for each frame that changes any of ``names`` ("data" or traits)."""
        self._subscribers.append((callback, frozenset(names)))

    def transaction(self):
        """Several state changes made as one user action (Session.transaction)."""
        return self.session.transaction()

    def publish(self, frame: Frame) -> None:
        self.frame = frame
        for callback, names in self._subscribers:
            hit = frame.changed & names
            if hit:
                callback(set(hit))


class Session:
    """Owns the loaded models, the activation cache and the Workbenches; publishes Frames on ``feed``
    (the model in use) and ``compared_feed`` (the Compare section's second model).

    ``runs`` counts Workbench builds of the model in use (texts, model, hook, skip-first, centering);
    ``frames`` counts frames published on ``feed``. ``background=True`` loads models in a thread (the
    page shows progress meanwhile); changes made while it works are taken up when it finishes.
    With ``background`` on, the Session also warms up while the user looks: after each frame, a thread
    asks every warmer of ``feed`` (``View.warm``) to compute what the other layers will show, nearest
    layers first, one layer at a time under the lock, so that a Layer step finds its results memoised.
    ``messages`` shows what happens: ``tell(text, kind)``, ``progress(text)``, ``ready(bench, note)``,
    ``no_model(name)``, ``busy(flag)`` (widgets.messages.Messages).
    """

    def __init__(self, state: AppState, messages, *, cache: ActivationCache, background: bool = False):
        self.state = state
        self.messages = messages
        self.cache = cache
        self.background = background
        self.feed = Feed(self)
        self.compared_feed = Feed(self)
        self.loaded: LoadedModel | None = None
        self.compared: LoadedModel | None = None
        self.runs = 0
        self.frames = 0
        self.lock = threading.RLock()  # models, cache and Workbench memo: one user of them at a time
        self._guard = threading.Lock()  # the pending changes and who works on them
        self._pending: set[str] = set()
        self._wanted: dict[str, int] = {}  # a link's layer and token, checked against the next results
        self._notes: list[str] = []  # messages shown once the current action is done
        self._depth = 0
        self._working = False
        self._worker: threading.Thread | None = None
        self._generation = 0  # the frame whose warm-up runs: an older warm-up stops
        self._drawn_at = float("-inf")  # time.monotonic() when the last frame was drawn
        self._held: Callable[[], None] | None = None  # a dragged slider's latest value, waiting (hold)
        state.observe(self._changed, names=[*DATA_TRAITS, *SLICE_TRAITS, *VISUAL_TRAITS])

    # --- taking changes -------------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        """Changes of the state made inside are taken as one action: at most one run and one frame."""
        with self._guard:
            self._depth += 1
        try:
            yield
        finally:
            with self._guard:
                self._depth -= 1
            self._flush()

    def request(self, names: Iterable[str] = (), wanted: dict | None = None, notes: Iterable[str] = ()) -> None:
        """Ask for work without a trait change (``names``, e.g. "model" to load the requested model),
        a ``wanted`` layer/token checked against the next results, and ``notes`` shown when done."""
        with self._guard:
            self._pending.update(names)
            self._wanted.update(wanted or {})
            self._notes.extend(notes)
        self._flush()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until background work has finished; True if nothing is still working."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not (worker and worker.is_alive())

    def _changed(self, change) -> None:
        with self._guard:
            self._pending.add(change["name"])
        self._flush()

    def hold(self, apply: Callable[[], None]) -> bool:
        """Throttle a slider being dragged (the controls ask for each value the browser sends): a value that
        comes less than THROTTLE_S after the last frame is put off (on the kernel's event loop) until
        THROTTLE_S has passed, and a later value replaces it. True if ``apply`` was put off. Values set
        from Python are never held."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        wait = self._drawn_at + THROTTLE_S - time.monotonic()
        if wait <= 0:
            return False
        first, self._held = self._held is None, apply
        if first:
            loop.call_later(wait, self._release)
        return True

    def _release(self) -> None:
        apply, self._held = self._held, None
        if apply is not None:
            apply()

    def _take(self) -> set[str]:
        with self._guard:
            pending, self._pending = self._pending, set()
        return pending

    def _flush(self) -> None:
        with self._guard:
            if self._depth or self._working or not (self._pending or self._wanted or self._notes):
                return
            self._working = True
            pending, self._pending = self._pending, set()
        if self.background and self._needs_load(pending):
            self._worker = threading.Thread(target=self._work, args=(pending,), daemon=True, name="mlprec-session")
            self._worker.start()
        else:
            self._work(pending)

    def _needs_load(self, pending: set[str]) -> bool:
        state = self.state
        return ("model" in pending and not _is(self.loaded, state.model)) or (
            "compare_model" in pending and state.compare_model != "" and not _is(self.compared, state.compare_model)
        )

    def _work(self, pending: set[str]) -> None:
        try:
            while True:
                with self.lock:
                    self._process(pending)
                with self._guard:
                    if not (self._pending or self._wanted or self._notes):
                        self._working = False
                        return
                    pending, self._pending = self._pending, set()
        except BaseException:
            with self._guard:
                self._working = False
            raise

    # --- one action: load, run, publish ---------------------------------------------------------

    def _process(self, pending: set[str]) -> None:
        state = self.state
        if "example" in pending and state.example:
            example = EXAMPLES[state.example]
            state.text_a, state.text_b, state.text_c = example.a, example.b, example.c
        elif pending & set(TEXT_TRAITS) and state.example and state.texts() != EXAMPLES[state.example].texts:
            state.example = ""  # the user's own texts now
        pending |= self._take()
        loading = "model" in pending and not _is(self.loaded, state.model)
        if loading:
            self.loaded = self._load(state.model) or self.loaded
        if "compare_model" in pending and not _is(self.compared, state.compare_model):
            loading = bool(state.compare_model)
            self.compared = self._load(state.compare_model, compared=True) if loading else None
        ran = False
        bench = self.feed.frame.bench
        if self.loaded is not None and (bench is None or pending & RUN_TRAITS or bench.model is not self.loaded):
            bench, ran = self._run() or bench, True
        elif loading and bench is not None:
            self.messages.ready(bench)  # the status line said "Loading…"
        if ran or pending & {"compare_model"}:
            self._publish_compared(bench)
        with self._guard:
            notes, self._notes = self._notes, []
        if notes or ran:  # before the views draw: a view that fails to draw tells its own message after
            self._tell(notes, bench if ran else None)
        self._publish(bench, pending | self._take())
        with self._guard:
            refused, self._notes = self._notes, []
        if refused:  # a link's layer or token that the new results do not have
            self._tell(notes + refused, None)

    def _tell(self, notes: list[str], bench: Workbench | None) -> None:
        """Show ``notes`` in one message (none: clear it), else say which texts of a new ``bench`` were cut."""
        self.messages.tell(" ".join(notes))
        truncated = [name for name, text in bench.texts.items() if text.truncated] if bench and not notes else []
        if truncated:
            self.messages.tell(
                f"Text {', '.join(truncated)} is longer than the model's context of {bench.model.context} "
                "tokens: only the first tokens are analysed.",
                "notice",
            )

    def _load(self, name: str, compared: bool = False) -> LoadedModel | None:
        """Load ``name``; on failure say why (the model already loaded stays) and return None."""
        self.messages.busy(True)
        self.messages.progress(f"Loading model “{name}”…")
        try:
            return load_model(name, progress=self.messages.progress)
        except Exception as err:  # ModelError, or worse: the app stays usable
            if not isinstance(err, ModelError):
                log.exception("loading %s failed", name)
            reason = str(err) if isinstance(err, ModelError) else f"Model “{name}” could not be loaded: {err}"
            kept = self.compared if compared else self.loaded
            if compared:
                reason += " Nothing to compare with." if kept is None else f" Still comparing with “{kept.name}”."
            elif kept is not None:
                reason += f" Still showing “{kept.name}”."
            else:
                self.messages.no_model(name)
            self._notes.append(reason)
            return None
        finally:
            self.messages.busy(False)

    def _build(self, model: LoadedModel) -> Workbench:
        state = self.state
        return Workbench.build(model, self.cache, state.texts(), state.hook, state.skip_first, center=state.center)

    def _run(self) -> Workbench | None:
        """A Workbench of the loaded model on the state's texts, or None (and a message) if they cannot be used."""
        self.messages.progress("Running the model on the texts…")
        start = time.perf_counter()
        passes, disk_hits = self.cache.forward_passes, self.cache.disk_hits
        self.runs += 1
        try:
            bench = self._build(self.loaded)
        except InputError as err:
            self._notes.append(f"{err} The results shown are still those of the previous texts.")
            self.messages.ready(self.feed.frame.bench)
            return None
        except Exception as err:
            log.exception("run failed")
            self._notes.append(f"The model could not run on these texts: {err}")
            self.messages.ready(self.feed.frame.bench)
            return None
        forward, from_disk = self.cache.forward_passes - passes, self.cache.disk_hits - disk_hits
        self._drop_failed_disk_store()
        self.messages.ready(
            bench,
            f" · ran in {time.perf_counter() - start:.2f} s ({forward} forward passes, {from_disk} texts from the disk cache)",
        )
        return bench

    def _drop_failed_disk_store(self) -> None:
        """A disk store that cannot be written (read-only folder, quota full) is dropped, and said so once."""
        disk = self.cache.disk
        if disk is not None and disk.failure:
            self.cache.disk = None
            self._notes.append(
                f"The activation store {disk.folder} cannot be written ({disk.failure}): "
                "this session keeps activations in memory only."
            )

    def _publish_compared(self, bench: Workbench | None) -> None:
        compared = None
        if self.compared is not None and bench is not None:
            try:
                compared = self._build(self.compared)
            except Exception as err:
                self._notes.append(f"Compared model “{self.compared.name}”: {err}")
        frame = self.feed.frame
        self.compared_feed.publish(Frame(compared, frame.layer, frame.token, frozenset({"data"}), frame.number))

    def _publish(self, bench: Workbench | None, pending: set[str]) -> None:
        """Fit the state's layer and token to ``bench`` and publish one frame (if anything changed)."""
        state, previous = self.state, self.feed.frame
        if bench is None:
            return
        state.n_layers, state.n_tokens = bench.n_layers, len(bench.labels("C"))
        with self._guard:
            wanted, self._wanted = self._wanted, {}
        for key, value in wanted.items():
            try:
                setattr(state, key, value)
            except TraitError as err:
                self._notes.append(str(err))
        state.layer = min(state.layer, state.n_layers - 1)
        state.token = min(state.token, state.n_tokens - 1)
        changed = (pending | self._take()) & VIEW_NAMES
        if bench is not previous.bench:
            changed.add("data")
        for name in ("layer", "token"):
            if getattr(state, name) != getattr(previous, name):
                changed.add(name)
            elif bench is previous.bench:
                changed.discard(name)
        if not changed:
            return
        self.frames += 1
        frame = Frame(bench, state.layer, state.token, frozenset(changed), self.frames)
        self.feed.publish(frame)
        self._drawn_at = time.monotonic()
        if self.background and changed - {"layer", *VISUAL_TRAITS}:  # what the other layers show has changed
            self._start_warming(frame)
        if self.compared_feed.frame.bench is not None and changed - {"data"}:
            self.compared_feed.publish(
                Frame(
                    self.compared_feed.frame.bench,
                    frame.layer,
                    frame.token,
                    frozenset(changed - {"data"}),
                    frame.number,
                )
            )

    def go_background(self) -> None:
        """From now on, load models in a thread and warm up ahead (a served page, once its first build is
        in the browser); the warm-up of the frame on screen starts now."""
        self.background = True
        if self.feed.frame.bench is not None:
            self._start_warming(self.feed.frame)

    def _start_warming(self, frame: Frame) -> None:
        if _exiting.is_set():
            return
        self._generation = frame.number
        threading.Thread(target=self._warm, args=(frame,), daemon=True, name="mlprec-warm").start()

    def _warm(self, frame: Frame) -> None:
        """Compute what each layer of ``frame`` will show (View.warm), nearest layers first; stop when a
        newer frame changes what they show (Layer steps alone do not)."""
        generation = frame.number
        for layer in sorted(range(frame.n_layers), key=lambda layer: (abs(layer - frame.layer), layer)):
            with self.lock:
                if generation != self._generation or _exiting.is_set():  # a newer warm-up has started, or exit
                    return
                for warm in self.feed.warmers:
                    try:
                        warm(frame.bench, layer)
                    except Exception:  # a view's own refresh will tell what is wrong
                        log.debug("warming layer %d failed", layer, exc_info=True)


def _is(model: LoadedModel | None, name: str) -> bool:
    return model is not None and model.name == name
