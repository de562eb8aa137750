"""Widgets: the dashboard in ipywidgets + bqplot. ``from widgets import Dashboard``."""

from .app import Dashboard
from .state import AppState

__all__ = ["AppState", "Dashboard"]
