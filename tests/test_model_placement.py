"""Where a model's weights live: accelerate's device_map, and file-backed weights shared by every kernel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.cache import capture
from core.models import load_model
from core.texts import DEFAULT_TEXTS


def same_activations(placed, plain) -> None:
    for hook in ("mlp_out", "mlp_neurons", "resid_post"):
        np.testing.assert_allclose(
            capture(placed, DEFAULT_TEXTS["A"], hook).vectors,
            capture(plain, DEFAULT_TEXTS["A"], hook).vectors,
            atol=1e-6,
        )


def test_device_map_auto_places_the_model_and_captures_the_same_activations(tiny_gpt2_dir, tiny_gpt2):
    placed = load_model(str(tiny_gpt2_dir), device_map="auto")
    assert placed.device.type == "cpu"  # no GPU here: accelerate's map puts every block on the CPU
    same_activations(placed, tiny_gpt2)


def test_blocks_spread_by_accelerate_are_hooked_where_they_run(tiny_gpt2_dir, tiny_gpt2, tmp_path):
    """Half the blocks offloaded to disk: accelerate's hooks bring them in for each forward pass."""
    device_map = {"wte": "cpu", "wpe": "cpu", "drop": "cpu", "h.0": "cpu", "h.1": "cpu", "h.2": "disk"}
    device_map.update({"h.3": "disk", "ln_f": "cpu"})
    placed = load_model(str(tiny_gpt2_dir), device_map=device_map, offload_folder=str(tmp_path))
    assert placed.model.hf_device_map == device_map
    same_activations(placed, tiny_gpt2)


def mapped_file(address: int) -> str | None:
    """The file mapped at ``address`` in this process (None for anonymous memory)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        start, stop = (int(part, 16) for part in fields[0].split("-"))
        if start <= address < stop:
            return fields[5] if len(fields) > 5 else None
    return None


def test_cpu_weights_are_a_map_of_the_safetensors_file_so_kernels_share_them(tiny_gpt2_dir, tiny_gpt2):
    weights = str(tiny_gpt2_dir / "model.safetensors")
    places = {mapped_file(param.data_ptr()) for param in tiny_gpt2.model.parameters()}
    assert places == {weights}
