"""Core engine: models, activation cache, the five analyses and the headless report (no widgets).

Importing it before torch (as the app, the notebook and ``python -m core`` do) makes torch's OpenMP threads
sleep between parallel regions instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless already set). The
analyses run many small torch operations; with spinning threads, a machine whose other core is busy made
Part 5 on the default texts take ~500 ms instead of ~15 ms (on a quiet machine both policies time the same).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
