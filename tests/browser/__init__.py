"""Helpers for driving the served dashboard in a real browser (tests and benchmarks/bench_browser.py).

``VoilaServer`` runs ``voila dashboard.ipynb`` from the repository root on 127.0.0.1 with a model from disk;
``launch_chromium`` starts Debian's Chromium through Playwright; the rest are small DOM helpers that read
the app's DOM contract (the ``mlprec-*`` classes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}

# Results on screen: the status says ready, all five parts exist, Part 5 has real cells (the placeholder is a
# single 1x1 cell) and Part 2's titles name a layer (they are empty placeholders before the first run).
READY_JS = """() => {
  const sections = document.querySelectorAll('.mlprec-section');
  if (!document.querySelector('.mlprec-status .mlprec-ready') || sections.length !== 5) return false;
  if (sections[4].querySelectorAll('rect.heatmapcell').length < 2) return false;
  return [...sections[1].querySelectorAll('text.mainheading')].some(t => t.textContent.includes('at layer'));
}"""


# A JS function: the highlighted row (a <tr>) of the table shown by the HTML widget with class ``holder``, or
# null. The widget carries the class mlprec-at-layer-N and the row the class mlprec-row-N (widgets.tables).
CURRENT_ROW_JS = """(holder) => {
  const widget = document.querySelector(holder);
  const name = widget && [...widget.classList].find((c) => c.startsWith('mlprec-at-layer-'));
  return name ? widget.querySelector('tr.mlprec-row-' + name.slice('mlprec-at-layer-'.length)) : null;
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def voila_command() -> list[str]:
    script = Path(sys.executable).with_name("voila")
    return [str(script)] if script.exists() else [sys.executable, "-m", "voila"]


class VoilaServer:
    """``voila dashboard.ipynb`` (or ``notebook``) serving ``model`` (MLPREC_MODEL) on 127.0.0.1; a context manager.

    Its output goes to ``log_path``. Kernels whose page went away are culled after ``cull_idle_s`` idle
    seconds, checked every ``cull_interval_s`` (a page that stays connected is never culled).
    """

    def __init__(
        self,
        model: str | Path,
        log_path: str | Path,
        *,
        theme: str | None = None,
        startup_timeout: float = 60.0,
        cull_idle_s: int = 60,
        cull_interval_s: int = 15,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        notebook: str | Path = "dashboard.ipynb",
        root: str | Path = ROOT,
    ):
        self.model = str(model)
        self.root = Path(root)  # the checkout Voila runs in (the kernels import its widgets and core)
        self.notebook = str(notebook)
        self.log_path = Path(log_path)
        self.theme = theme
        self.startup_timeout = startup_timeout
        self.cull_idle_s = cull_idle_s
        self.cull_interval_s = cull_interval_s
        self.extra_env = extra_env or {}
        self.extra_args = list(extra_args or [])
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text[-chars:]

    def start(self) -> VoilaServer:
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            MLPREC_MODEL=self.model,
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            PYTHONUNBUFFERED="1",
            **self.extra_env,
        )
        command = [
            *voila_command(),
            self.notebook,
            "--no-browser",
            f"--port={self.port}",
            "--Voila.ip=127.0.0.1",
            "--KernelManager.transport=ipc",  # as scripts/dashboard.sh: no TCP port races between kernels
            f"--MappingKernelManager.cull_idle_timeout={self.cull_idle_s}",
            f"--MappingKernelManager.cull_interval={self.cull_interval_s}",
        ]
        if self.theme:
            command.append(f"--theme={self.theme}")
        command += self.extra_args
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self._log.write("$ " + " ".join(command) + "\n")
        self._log.flush()
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() also reaches the kernels it started
        )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_answering(self) -> None:
        """Poll a static file of the Voila page (a GET of the notebook itself would start a kernel)."""
        deadline = time.monotonic() + self.startup_timeout
        probe = self.url + "voila/static/voila.js"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Voila exited with code {self.process.returncode} before answering on {self.url}.\n"
                    f"--- server log ({self.log_path}) ---\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=5) as reply:
                    reply.read(1)
                return
            except urllib.error.HTTPError:
                return  # it answers, even if not with that file
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Voila did not answer on {self.url} within {self.startup_timeout:.0f} s.\n"
                    f"--- server log ({self.log_path}) ---\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """Terminate the server (it shuts its kernels down), then kill its process group if anything is left."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            try:  # kernels the server started and left behind (same process group, id = the server's pid)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kernel_pids(self) -> list[int]:
        """Process ids of the kernels this server started (its children running ipykernel)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
                parent = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
                if parent == self.process.pid and "ipykernel" in (entry / "cmdline").read_text():
                    pids.append(int(entry.name))
            except (OSError, StopIteration):
                continue
        return sorted(pids)

    def wait_pool_warm(self, size: int, timeout_s: float = 300.0, quiet_s: float = 1.5) -> float:
        """Wait until ``size`` preheated kernels exist and have finished their notebooks up to the visitor's link
        (they then wait on a socket: no CPU time for ``quiet_s`` seconds); returns the seconds waited."""
        start = time.monotonic()
        last, since = None, time.monotonic()
        while time.monotonic() - start < timeout_s:
            pids = self.kernel_pids()
            ticks = tuple(cpu_ticks(pid) for pid in pids)
            if len(pids) >= size and ticks == last:
                if time.monotonic() - since >= quiet_s:
                    return time.monotonic() - start
            else:
                last, since = ticks, time.monotonic()
            time.sleep(0.25)
        raise RuntimeError(f"the pool of {size} kernels was not warm within {timeout_s:.0f} s:\n{self.log_tail()}")

    def __enter__(self) -> VoilaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process in clock ticks (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def launch_chromium(playwright, **kwargs):
    """Debian's Chromium, headless, through Playwright (never ``playwright install``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, **kwargs)


def wait_ready(page, timeout_s: float = 120.0) -> None:
    """Wait until the dashboard shows results (see READY_JS)."""
    page.wait_for_function(READY_JS, timeout=timeout_s * 1000, polling=100)


def leave(page) -> None:
    """Navigate away so that Voila's beforeunload handler shuts the page's kernel down."""
    try:
        page.goto("about:blank", timeout=10_000)
    except Exception:  # the page may already be gone
        pass


def content_height(page) -> int:
    """Height of the dashboard's content: Voila's page scrolls inside a panel, not the document."""
    return page.evaluate(
        """() => {
          let height = document.scrollingElement ? document.scrollingElement.scrollHeight : 0;
          for (const el of document.querySelectorAll('body *')) {
            const style = getComputedStyle(el);
            if (['auto', 'scroll'].includes(style.overflowY) && el.scrollHeight > el.clientHeight)
              height = Math.max(height, el.scrollHeight + el.getBoundingClientRect().top);
          }
          return Math.ceil(height);
        }"""
    )


def scroll_to_centre(locator) -> None:
    """Scroll an element to the middle of the screen and wait two animation frames: a part that comes on
    screen is laid out, painted and hit-tested from the next frame on (content-visibility, widgets/style.py)."""
    locator.evaluate(
        """async (el) => {
          el.scrollIntoView({block: 'center', inline: 'center'});
          await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        }"""
    )


def read_text(locator) -> str:
    """An element's text as a visitor reads it, scrolled onto the screen first: a part off screen is not laid
    out, and ``innerText`` needs the layout (it reads "" there; ``textContent`` does not)."""
    scroll_to_centre(locator)
    return locator.inner_text()


def full_screenshot(page, path: str | Path, max_height: int = 12000) -> Path:
    """A screenshot of the whole dashboard: grow the viewport to the content's height, shoot, restore."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or VIEWPORT
    height = min(max(content_height(page) + 40, original["height"]), max_height)
    page.set_viewport_size({"width": original["width"], "height": height})
    try:
        page.wait_for_timeout(500)  # let the panels relayout to the new height
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(original)
    return path
