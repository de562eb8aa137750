"""Shareable state: a link's query sets the app, the app writes a link that reproduces itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from widgets import Dashboard
from widgets.links import parse_query


def test_a_link_sets_texts_layer_token_alpha_hook_and_centering(tiny_gpt2_dir):
    app = Dashboard(
        model=str(tiny_gpt2_dir),
        query="text_c=Of+shoes+and+ships+and+sealing-wax&layer=1&token=2&alpha=0.5&hook=mlp_neurons&center=1",
    )
    state = app.state
    assert (state.text_c, state.layer, state.token, state.alpha, state.hook, state.center) == (
        "Of shoes and ships and sealing-wax",
        1,
        2,
        0.5,
        "mlp_neurons",
        True,
    )
    assert app.messages.area.value == "" and "at layer 1" in app.views["target"].similarity_figure.title


def test_the_app_writes_a_link_that_reopens_the_same_view(tiny_gpt2_dir, monkeypatch):
    app = Dashboard(model=str(tiny_gpt2_dir))
    app.controls.texts["A"].value = "The time has come, the Walrus said, to talk of many things & <kings>."
    app.state.layer, app.state.token, app.state.alpha = 2, 3, 1.5
    app.state.lens, app.state.steer_strength, app.state.steer_direction = "raw", -2.5, "trend"
    app.state.steer_prompt = "Steer me & <you>"
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:8866/?layer=0")
    app.controls.link_button.click()
    link = app.controls.link.value
    assert link.startswith("http://127.0.0.1:8866/?") and "layer=0" not in link
    again = Dashboard(model=str(tiny_gpt2_dir), query=urlsplit(link).query)
    for trait in (
        *("text_a", "text_b", "text_c", "layer", "token", "alpha", "hook", "center", "model"),
        *("lens", "steer_strength", "steer_direction", "steer_prompt"),
    ):
        assert getattr(again.state, trait) == getattr(app.state, trait), trait


def test_bad_and_hostile_link_values_are_reported_and_ignored(tiny_gpt2_dir):
    app = Dashboard(
        model=str(tiny_gpt2_dir),
        query="layer=abc&alpha=nan&hook=evil&token=999&colour=red&text_b=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        "&steer=1e9&lens=telescope",
    )
    message = app.messages.area.value
    for part in (
        "layer “abc” was ignored: not a whole number",
        "alpha “nan” was ignored: not a finite number",
        "“colour” is unknown",
        "Unknown hook point 'evil'",
        "Token 999 is out of range",
        "Steering strength must be a number between -100 and 100",
        "telescope",
    ):
        assert part in message
    assert "<script>" not in message and "&lt;script&gt;" not in message  # the text was taken, not echoed
    assert app.state.text_b == "<script>alert(1)</script>"  # a text is a text: shown literally everywhere
    assert "mlprec-ready" in app.messages.status.value and app.state.hook == "mlp_out"
    app.controls.texts["C"].value = "And his answer trickled through my head."  # the next run clears the note
    assert app.messages.area.value == ""


def test_a_served_link_cannot_pick_a_model_off_the_operators_list(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("QUERY_STRING", "model=someone/huge-model&layer=1&theme=dark&voila-template=lab")
    app = Dashboard(model=str(tiny_gpt2_dir))
    assert app.wait(120)  # served: the model loads in the background
    assert app.state.model == str(tiny_gpt2_dir) and app.state.layer == 1
    assert "is not offered on this server" in app.messages.area.value
    assert "theme" not in app.messages.area.value and "template" not in app.messages.area.value  # Voila's own keys


def test_an_over_long_text_in_a_link_is_refused():
    settings, problems = parse_query("text_a=" + "x" * 30_000)
    assert "text_a" not in settings and "longer than 20000 characters" in problems[0]


def test_lecture_mode_shows_one_part_at_a_time_with_next_and_back(tiny_gpt2_dir):
    app = Dashboard(model=str(tiny_gpt2_dir), query="lecture=1&step=2")
    shown = lambda: [view.widget.layout.display != "none" for view in app.views.values()]  # noqa: E731
    only = lambda step: [index == step for index in range(1, 10)]  # noqa: E731
    assert shown() == only(2)
    assert "Step 2 of 9" in app.lecture.caption.value and "mlprec-lecture" in app.widget._dom_classes
    app.lecture.next.click()
    assert shown() == only(3) and "What the target reads as" in app.lecture.caption.value
    for _ in range(9):
        app.lecture.next.click()
    assert shown()[-1] and app.lecture.next.disabled
    app.lecture.back.click()
    assert shown() == only(8)
    app.state.layer = 0  # the controls stay live in lecture mode
    assert "at layer 0" in app.views["pairs"].main.figure.title


def test_a_link_to_another_model_loads_only_that_model_once(tiny_gpt2_dir, tmp_path):
    from tests.tiny import build_gpt2

    other = build_gpt2(tmp_path / "other", n_layer=2, seed=3)
    app = Dashboard(model=str(tiny_gpt2_dir), query=f"model={other}&layer=1")
    assert app.session.loaded.name == str(other) and app.state.n_layers == 2 and app.state.layer == 1
    assert app.session.cache.forward_passes == 3
