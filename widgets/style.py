"""The app's stylesheet: projector-friendly sizes, theme-aware colours (JupyterLab CSS variables).

Messages sit on a translucent tint over the page, so their text keeps its contrast (WCAG AA) in the light and
the dark theme alike. Parts and views off screen are neither laid out nor painted until scrolled to
(content-visibility: auto; their DOM still updates, and each remembers its last height for the scrollbar): a
Layer step renders only what is in view.
"""

from .tables import MAX_HIGHLIGHTED_LAYER

# The current layer's row of a table (widgets.tables.highlight_layer): one selector per layer.
CURRENT_ROW = ", ".join(f".mlprec-at-layer-{n} .mlprec-row-{n}" for n in range(MAX_HIGHLIGHTED_LAYER + 1))

STYLE = (
    """<style>
.mlprec-app { max-width: 1500px; margin: 0 auto; font-size: 15px; }
.mlprec-title { margin: 8px 0 4px 0; }
.mlprec-heading { margin: 22px 0 2px 0; font-size: 1.35em; }
.mlprec-explain { margin: 0 0 6px 0; color: var(--jp-ui-font-color2, #555); max-width: 70em; }
.mlprec-status { font-size: 0.95em; }
.mlprec-busy { color: var(--jp-ui-font-color1, #333); font-style: italic; }
.mlprec-error, .mlprec-notice { padding: 6px 10px; margin: 4px 0; border-radius: 3px; white-space: pre-wrap; }
.mlprec-error { border-left: 5px solid var(--jp-error-color1, #d32f2f); background: rgba(211, 47, 47, 0.14);
  color: var(--jp-ui-font-color0, #000); }
.mlprec-notice { border-left: 5px solid var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.14);
  color: var(--jp-ui-font-color0, #000); }
.mlprec-slices { position: sticky; top: 0; z-index: 20; padding: 4px 0;
  background: var(--jp-layout-color0, #fff); border-bottom: 1px solid var(--jp-border-color2, #ddd); }
.mlprec-count { font-size: 0.9em; color: var(--jp-ui-font-color2, #555); padding-left: 8px; }
.mlprec-table { border-collapse: collapse; font-size: 0.9em; }
.mlprec-table td, .mlprec-table th { padding: 1px 8px; text-align: left; white-space: pre; }
.mlprec-section { width: 100%; }
.mlprec-section, .mlprec-extra { content-visibility: auto; contain-intrinsic-size: auto 900px; }
.mlprec-section > *, .mlprec-extra > * { flex-shrink: 0; }
.mlprec-thumbnail-pair { margin: -6px 0 8px 70px; font-size: 0.9em; color: var(--jp-content-font-color1, #000); }
.mlprec-chance { font-size: 0.9em; margin: 2px 0 2px 70px; color: var(--jp-ui-font-color1, #333); }
.mlprec-app .bqplot { --bq-content-font-color: var(--jp-content-font-color1, #000);
  --bq-mainheading-fill: var(--jp-content-font-color1, #000); --bq-axislabel-fill: var(--jp-content-font-color1, #000); }
.mlprec-app .bqplot text.mainheading { font-size: 15px; }
.mlprec-app .bqplot text.legendtext { font-size: 12px; fill: var(--jp-content-font-color1, #000) !important; }
.mlprec-app .widget-button { flex-shrink: 0; }
.mlprec-colorbar { margin-top: -8px; }
.mlprec-geometry-key { display: flex; flex-wrap: wrap; gap: 4px 20px; margin-left: 70px; font-size: 0.9em;
  color: var(--jp-content-font-color1, #000); }
.mlprec-geometry-layer { font-weight: bold; }
.mlprec-lecture { font-size: 19px; }
.mlprec-lecture .mlprec-heading { font-size: 1.6em; }
.mlprec-lecture .bqplot text { font-size: 14px; }
.mlprec-lecture .bqplot text.mainheading { font-size: 17px; }
.mlprec-lecture-bar { position: sticky; top: 48px; z-index: 19; padding: 6px 0;
  background: var(--jp-layout-color0, #fff); border-bottom: 2px solid var(--jp-brand-color1, #1976d2); }
.mlprec-lecture-caption { padding-left: 12px; max-width: 60em; }
"""
    + CURRENT_ROW
    + """ { background: rgba(255, 127, 14, 0.35); font-weight: bold; }
</style>"""
)
