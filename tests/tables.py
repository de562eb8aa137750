"""What a visitor sees in the app's HTML tables: which layer's row is highlighted (widgets.tables)."""


def highlighted_layer(table) -> int:
    """The layer whose row the stylesheet highlights in the HTML widget ``table``: one class on the widget names
    it (widgets.tables.highlight_layer), and the table has exactly one row of that layer."""
    (name,) = [c for c in table._dom_classes if c.startswith("mlprec-at-layer-")]
    layer = int(name.rsplit("-", 1)[1])
    assert table.value.count(f"<tr class='mlprec-row-{layer}'><td>{layer}</td>") == 1
    return layer
