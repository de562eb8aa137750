"""Lecture mode: one part at a time, with Next/Back, larger type and what to look for at each step."""

from __future__ import annotations

import html

from ipywidgets import HTML, Button, HBox, Layout, VBox

# One line per section, in page order (widgets/app.py, Dashboard.sections).
LOOK_FOR = (
    "Look at position 0 when skip-first is off: an attention sink with an outsized norm. Then follow how the "
    "norms grow with depth, and which tokens stand out.",
    "The mean vectors of A and B move together (their cosine S_AB is high): the target extrapolates their "
    "difference one step further. The diamond is the recommended C token; is it better than chance?",
    # the target in words (beside Part 2)
    "Which words does the target point to, and do they echo text B more than A? Switch between the logit lens "
    "and raw: the final norm changes the reading most at early layers.",
    "Does the recommendation change with depth? Early layers tend to track surface form, later ones context. "
    "Hollow points are not better than the permutation baseline.",
    # the target's words through the layers (beside Part 3)
    "Read down the columns: where does the target's reading settle on words related to the texts? Early "
    "layers often read as noise, later ones as plausible continuations.",
    "One C token against every (A, B) pair: bright rows and columns show which tokens drive the analogy. "
    "The square is the best pair; the four small maps repeat this for other C tokens.",
    "For every layer and C token, its best analogy: where in depth does each token peak? Click a cell to take "
    "the whole dashboard there.",
    # steering
    "Does adding the target push the next words towards text B's theme? Compare the two top-10 lists and the "
    "KL divergence; try strength 0 (identical), then larger strengths, and the trend alone.",
    # geometry
    "The target extrapolates the arrow from mean A to mean B: which C tokens lie in its direction? The axis "
    "labels say how much of the tokens' spread this plane shows; a small share means the picture flattens a lot.",
)


class Lecture:
    """Steps through ``sections`` (the sections' widgets, in page order), showing one at a time."""

    def __init__(self, sections: list, titles: list[str], step: int = 1):
        self.sections = sections
        self.titles = titles
        self.back = Button(description="Back", icon="arrow-left", layout=Layout(width="110px"))
        self.next = Button(description="Next", icon="arrow-right", layout=Layout(width="110px"))
        self.back.add_class("mlprec-lecture-back")
        self.next.add_class("mlprec-lecture-next")
        self.caption = HTML()
        self.caption.add_class("mlprec-lecture-caption")
        self.back.on_click(lambda _: self.go(self.step - 1))
        self.next.on_click(lambda _: self.go(self.step + 1))
        self.widget = VBox([HBox([self.back, self.next, self.caption], layout=Layout(align_items="center"))])
        self.widget.add_class("mlprec-lecture-bar")
        self.step = 0
        self.go(step)

    def go(self, step: int) -> None:
        """Show part ``step`` (1-based, clipped to the parts there are)."""
        self.step = min(max(int(step), 1), len(self.sections))
        for index, section in enumerate(self.sections, 1):
            section.layout.display = None if index == self.step else "none"
        self.back.disabled = self.step == 1
        self.next.disabled = self.step == len(self.sections)
        self.caption.value = (
            f"<div><b>Step {self.step} of {len(self.sections)} · {html.escape(self.titles[self.step - 1])}</b>"
            f"<br>{html.escape(LOOK_FOR[self.step - 1])}</div>"
        )
