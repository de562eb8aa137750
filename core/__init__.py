"""Core engine: models, activation cache, the five analyses and the headless report (no widgets)."""
