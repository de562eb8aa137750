"""Prepare an image (Binder's postBuild): fetch the default model and warm the activation store with the gallery.

``python -m core.warm`` loads MLPREC_MODEL (default gpt2) through core.models, which downloads it into the
Hugging Face cache when the hub is reachable, then runs every gallery example (core.gallery) through the
disk store (core.diskcache, MLPREC_CACHE_DIR), so the first visitors' pages read their activations from
disk. Offline (HF_HUB_OFFLINE=1, or the hub unreachable) it says so and succeeds: the image still works, it only
downloads on first use. Prints one line per step; exit status 0 unless something other than the network fails.
"""

from __future__ import annotations

import os
import sys

from .cache import ActivationCache
from .diskcache import DiskStore
from .gallery import EXAMPLES
from .models import DEFAULT_MODEL, ModelError, load_model
from .workbench import Workbench


def warm(model_name: str, store: DiskStore, hook: str = "mlp_out") -> int:
    """Load ``model_name`` and store the activations of every gallery text; returns the texts stored."""
    model = load_model(model_name)
    cache = ActivationCache(disk=store)
    for example in EXAMPLES.values():
        Workbench.build(model, cache, example.texts, hook, True)
    return cache.forward_passes


def main() -> int:
    name = os.environ.get("MLPREC_MODEL") or DEFAULT_MODEL
    store = DiskStore()
    try:
        stored = warm(name, store)
    except ModelError as err:
        print(f"offline or unavailable, nothing warmed: {err} The dashboard will load the model on first use.")
        return 0
    if store.failure:
        print(f"model '{name}' ready; the activation store {store.folder} could not be written ({store.failure}).")
        return 0
    print(f"model '{name}' ready; {stored} gallery texts stored in {store.folder}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
