"""Readability measured in the browser: overlapping tick labels, texts outside their figure, cut labels, contrast.

``measure(page)`` returns, for the dashboard on screen:

- ``texts``: how many SVG texts the figures draw (visible, non-empty);
- ``overlaps``: pairs of tick labels of one figure whose drawn boxes (rotation included) intersect;
- ``outside``: texts drawn (partly) outside their figure, where they are cut;
- ``cut``: HTML labels and buttons whose text does not fit (shown with "…");
- ``contrast``: every message, explanation and figure text whose WCAG contrast ratio is below 4.5:1.

Each problem is described in words (figure title, text, numbers), so a failing test says what to fix.
"""

from __future__ import annotations

MEASURE_JS = r"""() => {
  const shown = el => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  // The four corners of an SVG text's own box, in page pixels (rotation included).
  const corners = t => {
    const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]].map(
      ([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const separated = (p, q) => {  // separating-axis test for two convex quadrilaterals
    for (const poly of [p, q]) for (let i = 0; i < 4; i++) {
      const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
      const nx = y1 - y2, ny = x2 - x1;
      const proj = r => r.map(([x, y]) => x * nx + y * ny);
      const a = proj(p), c = proj(q), len = Math.hypot(nx, ny);
      if (Math.min(...a) >= Math.max(...c) - 0.5 * len || Math.min(...c) >= Math.max(...a) - 0.5 * len) return true;
    }
    return false;
  };
  const figures = [...document.querySelectorAll('.mlprec-app .bqplot.figure')].filter(shown);
  const result = {figures: figures.length, texts: 0, overlaps: [], outside: [], cut: [], contrast: []};
  for (const fig of figures) {
    const box = fig.getBoundingClientRect();
    const title = (fig.querySelector('text.mainheading') || {}).textContent || '(untitled)';
    const texts = [...fig.querySelectorAll('svg text')].filter(t => t.textContent.trim() && shown(t));
    result.texts += texts.length;
    const drawn = texts.map(t => ({t, c: corners(t), tick: !!t.closest('.tick')}));
    for (const {t, c} of drawn) {
      const xs = c.map(p => p[0]), ys = c.map(p => p[1]);
      const over = Math.max(box.left - Math.min(...xs), Math.max(...xs) - box.right,
                            box.top - Math.min(...ys), Math.max(...ys) - box.bottom);
      if (over > 1) result.outside.push(`${title}: "${t.textContent}" ${over.toFixed(0)} px outside`);
    }
    const ticks = drawn.filter(d => d.tick);
    for (let i = 0; i < ticks.length; i++) for (let j = i + 1; j < ticks.length; j++)
      if (!separated(ticks[i].c, ticks[j].c))
        result.overlaps.push(`${title}: "${ticks[i].t.textContent}" / "${ticks[j].t.textContent}"`);
  }
  // HTML texts cut short by their box (buttons, descriptions, labels).
  for (const el of document.querySelectorAll('.mlprec-app *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !shown(el)) continue;
    const s = getComputedStyle(el);
    const clips = s.textOverflow === 'ellipsis' || ['hidden', 'clip'].includes(s.overflowX);
    if (clips && el.scrollWidth > el.clientWidth + 1)
      result.cut.push(`"${el.textContent.trim().slice(0, 60)}" needs ${el.scrollWidth} px, has ${el.clientWidth}`);
  }
  // Contrast (WCAG 2): text colour over the composited background of its ancestors.
  const rgba = c => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = el => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
  };
  const luminance = c => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (fg, bg) => { const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x); return (a + 0.05) / (b + 0.05); };
  const checked = [...document.querySelectorAll(
      '.mlprec-app .mlprec-error, .mlprec-app .mlprec-notice, .mlprec-app .mlprec-status span, .mlprec-app .mlprec-explain,'
      + ' .mlprec-app .mlprec-chance, .mlprec-app .mlprec-count, .mlprec-app .mlprec-heading, .mlprec-app .mlprec-figure-note,'
      + ' .mlprec-app .mlprec-table td, .mlprec-app .widget-label, .mlprec-app button')].filter(shown);
  const svgTexts = figures.flatMap(f => [...f.querySelectorAll('svg text')].filter(t => t.textContent.trim() && shown(t)));
  result.contrast_checked = checked.length + svgTexts.length;
  let worst = Infinity;
  for (const el of [...checked, ...svgTexts]) {
    const s = getComputedStyle(el);
    const bg = background(el.closest('svg') ? el.closest('.bqplot.figure') : el);
    const fg = over(rgba(el.closest('svg') ? s.fill : s.color), bg);
    const r = ratio(fg, bg);
    worst = Math.min(worst, r);
    if (r < 4.5) result.contrast.push(
      `${el.className.baseVal !== undefined ? 'svg ' + el.className.baseVal : el.className}: "${el.textContent.trim().slice(0, 40)}" ${r.toFixed(2)}:1`);
  }
  result.worst_contrast = worst;
  return result;
}"""


def measure(page) -> dict:
    """The readability measurements of the page on screen (see the module's docstring)."""
    return page.evaluate(MEASURE_JS)


def summary(facts: dict) -> dict:
    """The counts of ``measure``'s result: what a report or a benchmark line shows."""
    return {
        "texts": facts["texts"],
        "overlapping_tick_pairs": len(facts["overlaps"]),
        "texts_outside_figure": len(facts["outside"]),
        "cut_labels": len(facts["cut"]),
        "low_contrast_texts": len(facts["contrast"]),
        "worst_contrast": round(facts["worst_contrast"], 2),
    }
