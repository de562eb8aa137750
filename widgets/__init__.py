"""Widgets: the dashboard in ipywidgets + bqplot."""
