"""Whatever a visitor types into the served dashboard gets one clear message; nothing is lost or executed."""

from __future__ import annotations

import json

import pytest

from tests.browser import VoilaServer, wait_ready
from tests.browser.test_served_dashboard import heatmap_cells, titles

pytestmark = pytest.mark.browser


def apply_text(page, name: str, text: str) -> None:
    area = page.locator(f".mlprec-text-{name} textarea")
    area.fill(text)
    area.press("Tab")  # blur applies the text


def wait_message(page, kind: str, needle: str, timeout_s: float = 60) -> str:
    page.wait_for_function(
        """([kind, needle]) => {
          const box = document.querySelector(`.mlprec-message .mlprec-${kind}`);
          return box && box.innerText.includes(needle);
        }""",
        arg=[kind, needle],
        timeout=timeout_s * 1000,
    )
    return page.locator(f".mlprec-message .mlprec-{kind}").inner_text()


def svg_texts(page) -> list[str]:
    """Every piece of text drawn in the figures (tick labels, titles, point labels)."""
    return page.evaluate("() => [...document.querySelectorAll('.mlprec-section svg text')].map(t => t.textContent)")


def test_empty_blank_and_one_token_texts_each_get_a_message_and_keep_the_results(dashboard):
    page = dashboard
    cells, part2 = heatmap_cells(page), titles(page, 2)
    originals = {name: page.locator(f".mlprec-text-{name} textarea").input_value() for name in "bc"}
    for name, text, needle in [
        ("b", "", "Text B is empty"),
        ("b", " \n\t  ", "Text B is empty"),
        ("c", "x", "Text C has 1 token(s) and none is left to analyse"),
    ]:
        apply_text(page, name, text)
        message = wait_message(page, "error", needle)
        assert "Traceback" not in message
        assert heatmap_cells(page) == cells and titles(page, 2) == part2
        assert page.locator(".mlprec-status .mlprec-ready").is_visible()
        apply_text(page, name, originals[name])  # the user's fix: the same results come back
        page.locator(".mlprec-message .mlprec-error").wait_for(state="detached")


def test_a_5000_token_text_is_cut_to_the_context_and_the_app_says_so(dashboard):
    page = dashboard
    apply_text(page, "a", "gate " * 5000)
    notice = wait_message(page, "notice", "longer than the model's context of 128 tokens")
    assert "Text A" in notice
    # the notice is told before the views draw the new results: the count line follows it
    page.wait_for_function(
        "() => document.querySelector('.mlprec-count-a').innerText.includes('cut to the model')", timeout=60_000
    )
    count = page.locator(".mlprec-count-a").inner_text()
    assert "128 tokens" in count and "cut to the model's context (128 of " in count
    wait_ready(page)


def test_emoji_cjk_combining_and_right_to_left_labels_stay_readable(dashboard):
    page = dashboard
    apply_text(page, "c", "I 🙂 you, 日本語 e\u0301 שלום")
    page.wait_for_function(
        "() => document.querySelector('.mlprec-count-c').innerText.includes('analysed')"
        " && [...document.querySelectorAll('.mlprec-section svg text')].some(t => t.textContent.includes('🙂[1/4]'))",
        timeout=60_000,
    )
    drawn = svg_texts(page)
    options = page.locator(".mlprec-token select option").all_inner_texts()
    assert not any("\ufffd" in text for text in drawn + options)
    joined = "|".join(drawn)
    for piece in ("🙂[1/4]", "🙂[4/4]", "日[1/3]", "◌́[1/2]", "ש[1/2]"):
        assert piece in joined
    assert any("🙂[2/4]" in option for option in options)


def test_html_and_script_in_texts_are_shown_literally_and_never_run(dashboard):
    page = dashboard
    page.evaluate("() => { window.__xss = 0; }")
    count_c = page.locator(".mlprec-count-c").inner_text()
    apply_text(page, "a", '<img src=x onerror="window.__xss=1"> and </script><script>window.__xss=2</script>')
    apply_text(page, "b", "<b>bold</b> & <i>italic</i> <svg onload=window.__xss=3>")
    apply_text(page, "c", '"><img src=y onerror=window.__xss=4> is it you?')
    page.wait_for_function(
        "(before) => document.querySelector('.mlprec-count-c').innerText !== before", arg=count_c, timeout=60_000
    )
    wait_ready(page)
    assert page.evaluate("() => window.__xss") == 0
    assert page.locator(".mlprec-app img, .mlprec-app script, .mlprec-section svg svg").count() == 0
    injected = page.evaluate(
        "() => [...document.querySelectorAll('.mlprec-app b, .mlprec-app i')].filter("
        "e => ['bold', 'italic'].includes(e.textContent)).length"
    )
    assert injected == 0
    drawn = svg_texts(page)
    assert any(text.strip().startswith("<") for text in drawn) and any(">" in text for text in drawn)
    assert page.locator(".mlprec-text-b textarea").input_value().startswith("<b>bold</b>")
    options = page.locator(".mlprec-token select option").all_inner_texts()
    assert options[0].replace("\xa0", " ").startswith("0: “") and any(
        "<" in option or ">" in option for option in options
    )
    assert page.errors == []


def test_the_served_model_picker_offers_only_the_operators_list(dashboard, tiny_gpt2_dir):
    page = dashboard
    picker = page.locator(".mlprec-model select")
    assert picker.count() == 1, "served, the model picker is a list, not free text"
    options = picker.locator("option").all_inner_texts()
    assert options[0] == str(tiny_gpt2_dir)
    assert all(option == str(tiny_gpt2_dir) or "minilm" in option for option in options), options
    assert page.locator(".mlprec-model input").count() == 0


def test_sources_are_stripped_and_no_traceback_reaches_the_page(dashboard):
    page = dashboard
    html = page.content()
    assert "from widgets import Dashboard" not in html and "Dashboard(background=True)" not in html
    apply_text(page, "a", "")
    wait_message(page, "error", "Text A is empty")
    assert "Traceback" not in page.content()


@pytest.fixture(scope="module")
def open_server(tiny_gpt2_dir, artifacts):
    """A server whose operator allows free model entry (MLPREC_ALLOW_ANY_MODEL=1)."""
    with VoilaServer(
        tiny_gpt2_dir, artifacts / "voila-open-server.log", extra_env={"MLPREC_ALLOW_ANY_MODEL": "1"}
    ) as server:
        yield server


def test_bad_model_names_get_a_message_and_the_previous_model_keeps_working(page, open_server, tmp_path):
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("hello")
    unsupported = tmp_path / "t5"
    unsupported.mkdir()
    (unsupported / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    page.goto(open_server.url, wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page)
    cells = heatmap_cells(page)
    page.get_by_text("Model, hook point, chance baselines and colours").click()  # open the settings
    model = page.locator(".mlprec-model input")
    for name, needle in [
        ("no-such-owner/no-such-model", "Cannot reach the Hugging Face hub"),
        (str(tmp_path / "missing"), "No folder at"),
        (str(not_a_model), "holds no model"),
        (str(unsupported), "is not supported"),
    ]:
        model.fill(name)
        model.press("Enter")
        message = wait_message(page, "error", needle)
        assert "Still showing" in message
        page.wait_for_function(
            "(cells) => document.querySelectorAll('.mlprec-section rect.heatmapcell').length === cells", arg=cells
        )
        wait_ready(page)
