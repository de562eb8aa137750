"""Shareable state: the page's URL query sets the app's choices, and the app writes a link to its own state.

Keys: text_a, text_b, text_c, layer, token, alpha, hook, model, center (0/1), the panels' lens ("logit lens"
or "raw"), steer (strength), direction ("target" or "trend") and prompt (the steering prompt), and lecture
(0/1) with step (1-5) to open lecture mode, and example (a gallery name). Values are checked like any other input: a
value that cannot be read is reported and ignored; a value that can be read still goes through AppState's
own checks (layer range, allowed models...). Voila's own keys (theme, template, anything starting with
voila-) belong to the server and pass without comment.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

MAX_TEXT = 20_000  # characters of one text taken from a link
VOILA_KEYS = ("theme", "template")  # read by Voila itself, as are all keys starting with "voila-"


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT} characters")
    return value


def _boolean(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not 0 or 1")


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("not a whole number") from None


def _finite(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


TRAITS = {"steer": "steer_strength", "direction": "steer_direction", "prompt": "steer_prompt"}  # key -> AppState trait
READERS = {
    "text_a": _text,
    "text_b": _text,
    "text_c": _text,
    "layer": _whole,
    "token": _whole,
    "alpha": _finite,
    "hook": str,
    "model": str,
    "example": str,
    "center": _boolean,
    "lens": str,
    "steer": _finite,
    "direction": str,
    "prompt": _text,
    "lecture": _boolean,
    "step": _whole,
}


def parse_query(query: str) -> tuple[dict, list[str]]:
    """The settings a URL query asks for (by AppState trait name), and one message per key that was ignored
    (unknown or unreadable)."""
    settings, problems = {}, []
    for key, values in parse_qs(query.lstrip("?"), keep_blank_values=True).items():
        reader = READERS.get(key)
        if key in VOILA_KEYS or key.startswith("voila-"):
            continue
        if reader is None:
            problems.append(f"The link's setting “{key[:40]}” is unknown and was ignored.")
            continue
        try:
            settings[TRAITS.get(key, key)] = reader(values[-1])
        except ValueError as err:
            problems.append(f"The link's {key} “{values[-1][:40]}” was ignored: {str(err).split(':')[0]}.")
    return settings, problems


def state_query(state) -> str:
    """The URL query that reproduces ``state``'s texts and choices."""
    return urlencode(
        {
            "model": state.model,
            "text_a": state.text_a,
            "text_b": state.text_b,
            "text_c": state.text_c,
            "layer": state.layer,
            "token": state.token,
            "alpha": f"{state.alpha:g}",
            "hook": state.hook,
            "center": int(state.center),
            "lens": state.lens,
            "steer": f"{state.steer_strength:g}",
            "direction": state.steer_direction,
        }
        | ({"prompt": state.steer_prompt} if state.steer_prompt else {})
    )


def page_link(page_url: str, state) -> str:
    """``page_url`` (the served page, any query dropped) with the query of ``state``; just "?query" without one."""
    query = state_query(state)
    if not page_url:
        return f"?{query}"
    scheme, netloc, path, _, _ = urlsplit(page_url)
    return urlunsplit((scheme, netloc, path, query, ""))
