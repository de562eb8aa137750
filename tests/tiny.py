"""Small real models for tests and benchmarks: random weights, fixed seed, a trained byte-level BPE."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "I'll tell thee everything I can; There's little to relate.",
    "I saw an aged aged man, a-sitting on a gate.",
    '"Who are you, aged man?" I said. "And how is it you live?"',
    "And his answer trickled through my head, like water through a sieve.",
    "He said, I look for butterflies that sleep among the wheat.",
    "I make them into mutton-pies, and sell them in the street.",
    "The time has come, the Walrus said, to talk of many things.",
    "Of shoes and ships and sealing-wax, of cabbages and kings.",
]


def train_tokenizer(vocab_size: int = 400):
    """A GPT-2-style byte-level BPE tokenizer trained on CORPUS, as a transformers fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 4, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"])
    return GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=None,
    )


def build_gpt2(folder: str | Path, seed: int = 0, **config) -> Path:
    """Save a GPT-2 with random weights (``config`` overrides small defaults) and a tokenizer to ``folder``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = train_tokenizer()
    settings = dict(n_layer=4, n_embd=32, n_head=4, n_positions=128)
    settings.update(config)
    settings.update(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**settings)).eval()
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
