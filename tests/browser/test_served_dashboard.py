"""The served dashboard (Voila + Chromium), driven the way a user drives it.

One Voila server serves the tiny GPT-2 (4 layers) for the whole module; every test opens its own page,
so every test starts from the defaults (layer 3 = the last layer, token 0).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import CURRENT_ROW_JS, full_screenshot, scroll_to_centre, wait_ready

pytestmark = pytest.mark.browser

PART_NAMES = ["Part 1", "Part 2", "Part 3", "Part 4", "Part 5"]


# --- reading the page -----------------------------------------------------------------------------


def section_facts(page) -> list[dict]:
    """Per part: its heading, figure count, bqplot svg count, SVG heatmap cells, painted heatmaps, scatter dots and titles."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.mlprec-section')].map(s => ({
          heading: (s.querySelector('.mlprec-heading') || {}).textContent || '',
          figures: s.querySelectorAll('.bqplot.figure').length,
          svgs: s.querySelectorAll('.bqplot.figure svg.svg-figure').length,
          cells: s.querySelectorAll('rect.heatmapcell').length,
          painted: s.querySelectorAll('.bqplot.figure svg image').length,
          dots: s.querySelectorAll('.bqplot.figure path.dot').length,
          titles: [...s.querySelectorAll('text.mainheading')].map(t => t.textContent),
        }))"""
    )


def titles(page, part: int) -> list[str]:
    """The figure titles of Part ``part`` (1-based)."""
    return section_facts(page)[part - 1]["titles"]


def heatmap_cells(page) -> int:
    return page.locator(".mlprec-section rect.heatmapcell").count()


def layer_readout(page) -> str:
    return page.locator(".mlprec-layer .widget-readout").inner_text().strip()


def current_table_layer(page) -> str:
    """The layer of the highlighted row of Part 5's side table."""
    return page.evaluate("() => (" + CURRENT_ROW_JS + ")('.mlprec-pairs-table').cells[0].textContent").strip()


def highlighted_rows(page, holder: str) -> list[str]:
    """The first cells of the rows of a table that the stylesheet highlights (bold, on a coloured background)."""
    return page.evaluate(
        """(holder) => [...document.querySelectorAll(holder + ' tr')]
          .filter((tr) => getComputedStyle(tr).fontWeight === '700' && getComputedStyle(tr).backgroundColor !== 'rgba(0, 0, 0, 0)')
          .map((tr) => tr.cells[0].textContent.trim())""",
        holder,
    )


def x_ticks(page, part: int, figure: int) -> list[str]:
    """The tick labels of the first (horizontal) axis of a figure."""
    return page.evaluate(
        """([part, figure]) => {
          const fig = document.querySelectorAll('.mlprec-section')[part - 1].querySelectorAll('.bqplot.figure')[figure];
          const axis = fig.querySelector('g.axis');
          return [...axis.querySelectorAll('.tick text')].map(t => t.textContent);
        }""",
        [part, figure],
    )


def clean(label: str) -> str:
    """A label as it reads: axis labels carry zero-width spaces to keep repeats apart."""
    return label.replace("\u200b", "").strip()


def wait_for_layer(page, layer: int, timeout_s: float = 20) -> None:
    """Wait until Part 2 (all three titles), Part 4's main title and Part 5's table show ``layer``."""
    page.wait_for_function(
        """(layer) => {
          const currentRow = """
        + CURRENT_ROW_JS
        + """;
          const s = document.querySelectorAll('.mlprec-section');
          const part2 = [...s[1].querySelectorAll('text.mainheading')].map(t => t.textContent);
          const part4 = s[3].querySelector('text.mainheading');
          const row = currentRow('.mlprec-pairs-table');
          return part2.length === 3 && part2.every(t => t.includes(`at layer ${layer}`))
            && part4 && part4.textContent.includes(`at layer ${layer}`)
            && row && row.cells[0].textContent.trim() === String(layer);
        }""",
        arg=layer,
        timeout=timeout_s * 1000,
        polling=50,
    )


def assert_shows_layer(page, layer: int) -> None:
    wait_for_layer(page, layer)
    assert layer_readout(page) == str(layer)
    part2 = titles(page, 2)
    assert [f"at layer {layer}" in title for title in part2] == [True] * 3, part2
    assert f"at layer {layer}" in titles(page, 4)[0]
    assert current_table_layer(page) == str(layer)


# --- tests ------------------------------------------------------------------------------------------


def test_all_five_parts_render(dashboard, artifacts):
    page = dashboard
    assert page.locator(".mlprec-status .mlprec-ready").is_visible()
    facts = section_facts(page)
    assert len(facts) == 5, facts
    for name, part in zip(PART_NAMES, facts, strict=True):
        assert part["heading"].startswith(name), (name, part["heading"])
        assert part["svgs"] >= 1 and part["svgs"] == part["figures"], (name, part)
    # Part 1: three heatmaps of 4 layers x the analysed tokens of A, B and C; Parts 4 and 5 heatmaps.
    for index in (0, 4):
        assert facts[index]["cells"] > 4, (PART_NAMES[index], facts[index])
    assert facts[3]["painted"] == 6, facts[3]  # Part 4 as images: the main heatmap, its colour bar, four thumbnails
    assert facts[0]["cells"] == 4 * sum(int(n) for n in re.findall(r"\b[ABC] (\d+)", _status(page)))
    # Parts 2 and 3: scatter dots (one per C token; one per layer).
    assert facts[1]["dots"] >= 3 and facts[2]["dots"] >= 4, (facts[1], facts[2])
    assert facts[4]["cells"] == 4 * _analysed(page, "c")
    assert page.locator(".mlprec-message .mlprec-error").count() == 0
    assert highlighted_rows(page, ".mlprec-pairs-table") == ["3"]  # the default layer, shown in bold
    full_screenshot(page, artifacts / "dashboard.png")
    assert (artifacts / "dashboard.png").stat().st_size > 50_000


def test_layer_keys_and_readout_redraw(dashboard):
    page = dashboard
    start = int(layer_readout(page))
    assert start == 3  # the default layer 6 is clipped to the tiny model's last layer
    assert_shows_layer(page, start)
    before = {"part2": titles(page, 2), "part4": titles(page, 4)[0]}

    handle = page.locator(".mlprec-layer .noUi-handle")
    handle.focus()
    handle.press("ArrowLeft")
    assert_shows_layer(page, start - 1)
    assert titles(page, 2) != before["part2"] and titles(page, 4)[0] != before["part4"]

    handle.press("ArrowLeft")
    assert_shows_layer(page, start - 2)
    handle.press("ArrowRight")
    assert_shows_layer(page, start - 1)

    # The editable readout: type a layer and press Enter.
    readout = page.locator(".mlprec-layer .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0")
    page.keyboard.press("Enter")
    assert_shows_layer(page, 0)
    assert handle.get_attribute("aria-valuenow") in ("0", "0.0")


def test_clicking_a_part5_cell_sets_layer_and_token(dashboard):
    page = dashboard
    layer, token = 1, 2
    assert (int(layer_readout(page)), _token_index(page)) != (layer, token)
    sweep = page.locator(".mlprec-section").nth(4)
    rows = sweep.locator("g.heatmaprow")
    assert rows.count() == 4
    # bqplot draws one <g class=heatmaprow> per data row (layer), in data order; layer 0 is at the bottom.
    tops = [rows.nth(i).locator("rect.heatmapcell").first.bounding_box()["y"] for i in range(4)]
    assert tops == sorted(tops, reverse=True), tops
    cell = rows.nth(layer).locator("rect.heatmapcell").nth(token)
    scroll_to_centre(cell)
    box = cell.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).getAttribute('class')", [x, y])
    assert hit == "heatmapcell", f"the cell's centre is covered by {hit!r}"
    page.mouse.click(x, y)

    assert_shows_layer(page, layer)
    page.wait_for_function(
        "(token) => document.querySelector('.mlprec-token select').value.startsWith(`${token}:`)", arg=token
    )
    assert _token_index(page) == token
    word = re.search(r"“(.*)”", page.locator(".mlprec-token select").input_value()).group(1)
    page.wait_for_function(  # the views draw the frame after the dropdown shows its token
        "(word) => document.querySelectorAll('.mlprec-section')[3].querySelector('text.mainheading')"
        ".textContent.includes(`“${word}”`)",
        arg=word,
    )
    assert titles(page, 4)[0].startswith(f"Similarity with “{word}” at layer {layer}:"), titles(page, 4)[0]
    expect(page.locator(".mlprec-pairs-table b")).to_have_text(f"Best pairs for “{word}”")


def test_new_text_c_reruns(dashboard, tiny_gpt2_dir):
    from transformers import AutoTokenizer

    page = dashboard
    before_ticks = x_ticks(page, 2, 2)
    before_count = page.locator(".mlprec-count-c").inner_text()
    sentence = "He said, I look for butterflies that sleep among the wheat."
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    ids = tokenizer(sentence)["input_ids"]
    expected = [tokenizer.decode([i]) for i in ids][1:]  # skip_first: position 0 is not analysed

    area = page.locator(".mlprec-text-c textarea")
    area.fill(sentence)
    area.press("Tab")  # blur: the text is applied
    page.wait_for_function(
        "(before) => document.querySelector('.mlprec-count-c').innerText !== before", arg=before_count, timeout=30_000
    )
    wait_ready(page, timeout_s=30)
    assert page.locator(".mlprec-count-c").inner_text().strip() == f"{len(ids)} tokens · {len(ids) - 1} analysed"
    page.wait_for_function(
        """([n, before]) => {
          const fig = document.querySelectorAll('.mlprec-section')[1].querySelectorAll('.bqplot.figure')[2];
          const ticks = [...fig.querySelector('g.axis').querySelectorAll('.tick text')].map(t => t.textContent);
          return ticks.length === n && ticks.join('|') !== before;
        }""",
        arg=[len(expected), "|".join(before_ticks)],
    )
    ticks = x_ticks(page, 2, 2)
    assert [clean(t) for t in ticks] == [clean(t) for t in expected]
    assert ticks != before_ticks
    # Part 5 follows: one column per new C token, on every layer.
    page.wait_for_function(
        "(n) => document.querySelectorAll('.mlprec-section')[4].querySelectorAll('rect.heatmapcell').length === n",
        arg=4 * len(expected),
    )
    assert page.locator(".mlprec-message .mlprec-error").count() == 0


def test_empty_text_a_shows_message_and_keeps_results(dashboard):
    page = dashboard
    cells = heatmap_cells(page)
    part2 = titles(page, 2)
    area = page.locator(".mlprec-text-a textarea")
    area.fill("   \n  ")
    area.press("Tab")
    error = page.locator(".mlprec-message .mlprec-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "Text A is empty" in error.inner_text()
    assert "still those of the previous texts" in error.inner_text()
    assert page.locator(".mlprec-status .mlprec-ready").is_visible()
    assert heatmap_cells(page) == cells
    assert titles(page, 2) == part2
    assert section_facts(page)[0]["cells"] > 4

    # A real text again clears the message and runs.
    area.fill("The time has come, the Walrus said.")
    area.press("Tab")
    error.wait_for(state="detached", timeout=30_000)
    wait_ready(page, timeout_s=30)


def test_dark_theme_renders(page, voila_server, artifacts):
    # Voila 0.5 takes the theme from the `theme` query parameter (allow_theme_override=YES, the default).
    page.goto(voila_server.url + "?theme=dark", wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page, timeout_s=120)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert 0.2126 * red + 0.7152 * green + 0.0722 * blue < 60, background
    assert page.evaluate("() => document.body.dataset.jpThemeLight") == "false"
    assert heatmap_cells(page) > 100
    full_screenshot(page, artifacts / "dashboard-dark.png")


# --- small readers ----------------------------------------------------------------------------------


def _status(page) -> str:
    return page.locator(".mlprec-status").inner_text()


def _analysed(page, text: str) -> int:
    return int(re.search(r"(\d+) analysed", page.locator(f".mlprec-count-{text}").inner_text()).group(1))


def _token_index(page) -> int:
    return int(page.locator(".mlprec-token select").input_value().split(":")[0])
