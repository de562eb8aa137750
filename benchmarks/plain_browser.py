"""A Chromium page driven without Playwright, for timing what a visitor's browser does (bench_browser.py).

Playwright enables DevTools' Network domain on every page it drives, so Chromium reports each WebSocket
frame, with its payload, to the driver. A Layer step brings ~46 widget messages (~66 KB), and on this 2-core
machine reporting them adds 11-19 ms to the step (a bare DevTools client with and without ``Network.enable``,
same machine, same minutes). A visitor's browser has no DevTools attached. ``PlainChromium`` starts the same
Debian Chromium with the same flags, but speaks to its page over the DevTools WebSocket with the Runtime,
Input and Emulation domains only: none of them reports network traffic.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

from tests.browser import CHROMIUM, CHROMIUM_ARGS

KEYS = {"ArrowRight": 39, "ArrowLeft": 37}  # the keys a Layer step presses: their Windows virtual key codes


class PlainChromium:
    """Headless Chromium with one page of size ``viewport``; a context manager. ``page`` is its PlainPage.
    ``network_events=True`` enables the Network domain as Playwright does (Chromium then reports every request
    and WebSocket frame; they are read and dropped): the same driver with and without that reporting."""

    def __init__(self, viewport: dict, network_events: bool = False):
        self.viewport = viewport
        # Chromium's helper processes may still write to the profile as it closes: a throwaway folder, left if busy
        self.profile = tempfile.TemporaryDirectory(prefix="mlprec-plain-", ignore_cleanup_errors=True)
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", *CHROMIUM_ARGS, f"--user-data-dir={self.profile.name}"]
            + ["--remote-debugging-port=0", "about:blank"],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.page = PlainPage(self._page_socket(), viewport)
        if network_events:
            self.page.call("Network.enable")

    def _page_socket(self) -> str:
        """The DevTools WebSocket address of the page (Chromium prints its port on stderr as it starts)."""
        for line in self.process.stderr:
            found = re.search(r"DevTools listening on ws://[\d.]+:(\d+)/", line)
            if found:
                break
        else:
            raise RuntimeError("Chromium exited before it opened its DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        return next(target["webSocketDebuggerUrl"] for target in targets if target["type"] == "page")

    def close(self) -> None:
        self.page.close()
        self.process.terminate()
        self.process.wait(timeout=20)
        self.profile.cleanup()

    def __enter__(self) -> PlainChromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PlainPage:
    """The page: ``goto``, ``evaluate`` a JS function, ``press`` a key (a trusted key event, as from a keyboard)."""

    def __init__(self, address: str, viewport: dict):
        self.socket = connect(address, max_size=None)
        self.calls = 0
        size = {"width": viewport["width"], "height": viewport["height"]}
        self.call("Emulation.setDeviceMetricsOverride", **size, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events, if a domain sends any, are dropped)."""
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            answer = json.loads(self.socket.recv(timeout=600))
            if answer.get("id") == self.calls:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def evaluate(self, function: str, arg=None):
        """Call the JS ``function`` with the JSON value ``arg``; awaits a returned promise; returns its JSON value."""
        result = self.call(
            "Runtime.evaluate",
            expression=f"({function})({json.dumps(arg)})",
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("exception", {}).get("description", "JS error"))
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.evaluate("(url) => { location.href = url; }", url)

    def wait_for(self, predicate: str, timeout_s: float, poll_ms: int = 50) -> None:
        """Wait until the JS function ``predicate`` returns true, polled inside the page."""
        started = time.monotonic()
        while not self._try(
            f"""() => new Promise((done) => {{
              const test = {predicate};
              const stop = performance.now() + 2000;
              const poll = () => {{
                let ok = false;
                try {{ ok = test(); }} catch (e) {{}}
                if (ok || performance.now() > stop) done(ok); else setTimeout(poll, {poll_ms});
              }};
              poll();
            }})"""
        ):  # polled in rounds of 2 s: a navigation ends an evaluation
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the page did not get there in {timeout_s:.0f} s: {predicate[:80]}")

    def _try(self, function: str) -> bool:
        """``evaluate``, but False where the page navigated away during the evaluation."""
        try:
            return bool(self.evaluate(function))
        except RuntimeError:
            time.sleep(0.2)
            return False

    def press(self, key: str) -> None:
        """Press and release ``key`` (in KEYS) on the focused element."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=KEYS[key])

    def close(self) -> None:
        """Leave the page (Voila then shuts its kernel down) and disconnect."""
        self.goto("about:blank")
        time.sleep(0.5)
        self.socket.close()
