"""The base of the sections beyond the textbook's five parts (vocabulary, steering, geometry).

They are Views like the parts, but carry their own ``mlprec-*`` class and ``mlprec-extra`` instead of
``mlprec-section``, which the page's DOM contract keeps for Parts 1-5.
"""

from __future__ import annotations

from .base import View


class ExtraView(View):
    """A View with its own CSS class ``css_class``."""

    css_class = ""

    def __init__(self, state, feed, tell):
        super().__init__(state, feed, tell)
        self.widget.remove_class("mlprec-section")
        self.widget.add_class("mlprec-extra")
        self.widget.add_class(self.css_class)
        self.widget.layout.width = "100%"
