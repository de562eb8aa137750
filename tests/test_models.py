"""Loading models through core.models: local folders, the hub cache, every supported architecture, clear errors.

Every model here is real: built with random weights from its transformers config, saved with
``save_pretrained`` and loaded back through ``core.models.load_model``. Tests that depend on
environment variables read at import (HF_HUB_OFFLINE, HF_HOME, HF_ENDPOINT) run in a subprocess.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cache import capture
from core.checks import HOOK_POINTS, InputError, check_hook
from core.models import ADAPTERS, ModelError, load_model
from tests.tiny import train_tokenizer

TEXT = "I saw an aged aged man, a-sitting on a gate."


def assert_one_sentence(message: str, *fragments: str) -> None:
    """``message`` is one line holding one sentence (one full stop, at the end) and every fragment."""
    assert "\n" not in message, message
    assert message.endswith("."), message
    assert len(re.findall(r"[.!?](?=\s|$)", message)) == 1, f"more than one sentence: {message}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def hidden_states(model, token_ids: np.ndarray) -> list[np.ndarray]:
    """The model's own hidden states (embeddings, then after each block; the last may be normalised)."""
    with torch.inference_mode():
        out = model.model(input_ids=torch.as_tensor(token_ids)[None, :], output_hidden_states=True)
    return [h[0].float().numpy() for h in out.hidden_states]


def captured(model, hooks=("attn_out", "mlp_out", "resid_post"), text: str = TEXT) -> dict[str, np.ndarray]:
    out = {hook: capture(model, text, hook) for hook in hooks}
    out["token_ids"] = out[hooks[0]].token_ids
    return {name: value.vectors if hasattr(value, "vectors") else value for name, value in out.items()}


# GPT-2


def test_tiny_gpt2_loads_from_its_folder(tiny_gpt2, tiny_gpt2_dir):
    """A folder written by save_pretrained loads in eval mode, with the GPT-2 adapter and its sizes."""
    assert tiny_gpt2.adapter is ADAPTERS["gpt2"]
    assert (tiny_gpt2.n_layers, tiny_gpt2.d_model, tiny_gpt2.context) == (4, 32, 128)
    assert tiny_gpt2.key == f"local:{tiny_gpt2_dir.resolve()}"
    assert not tiny_gpt2.model.training
    assert tiny_gpt2.device == torch.device("cpu")
    assert tiny_gpt2.tokenizer.decode(tiny_gpt2.tokenizer(TEXT)["input_ids"]) == TEXT


def test_gpt2_adapter_adds_up_hidden_state_plus_attention_plus_mlp(tiny_gpt2):
    """hidden_state[l+1] = hidden_state[l] + attn_out[l] + mlp_out[l] at every block (tolerance 1e-5).

    GPT2Model applies ln_f to its last hidden state, so the last block is checked against resid_post
    and ln_f(resid_post) against that last hidden state.
    """
    got = captured(tiny_gpt2)
    hs = hidden_states(tiny_gpt2, got["token_ids"])
    n = tiny_gpt2.n_layers
    assert len(hs) == n + 1
    for layer in range(n):
        after = hs[layer] + got["attn_out"][layer] + got["mlp_out"][layer]
        np.testing.assert_allclose(after, got["resid_post"][layer], atol=1e-5, rtol=0)
        if layer < n - 1:
            np.testing.assert_allclose(after, hs[layer + 1], atol=1e-5, rtol=0)
            np.testing.assert_allclose(got["resid_post"][layer], hs[layer + 1], atol=1e-5, rtol=0)
    with torch.inference_mode():
        final = tiny_gpt2.model.ln_f(torch.from_numpy(got["resid_post"][n - 1])).numpy()
    np.testing.assert_allclose(final, hs[n], atol=1e-5, rtol=0)
    assert not np.allclose(got["mlp_out"], 0) and not np.allclose(got["attn_out"], 0)


def test_gpt2_mlp_neurons_are_4d_wide_and_feed_the_mlp_output(tiny_gpt2):
    """mlp_neurons has width 4 d and is what c_proj turns into mlp_out."""
    got = captured(tiny_gpt2, ("mlp_neurons", "mlp_out"))
    assert got["mlp_neurons"].shape == (4, len(got["token_ids"]), 4 * 32)
    for layer in range(tiny_gpt2.n_layers):
        with torch.inference_mode():
            projected = tiny_gpt2.blocks()[layer].mlp.c_proj(torch.from_numpy(got["mlp_neurons"][layer])).numpy()
        np.testing.assert_allclose(projected, got["mlp_out"][layer], atol=1e-5, rtol=0)


def test_captured_vectors_are_float32_on_cpu_whatever_the_model_dtype(tiny_gpt2_dir):
    """A bfloat16 model still yields float32 numpy arrays, close to the float32 model's."""
    half = load_model(str(tiny_gpt2_dir), dtype=torch.bfloat16)
    assert next(half.model.parameters()).dtype == torch.bfloat16
    full = load_model(str(tiny_gpt2_dir))
    low, high = capture(half, TEXT, "mlp_out").vectors, capture(full, TEXT, "mlp_out").vectors
    assert isinstance(low, np.ndarray) and low.dtype == np.float32
    assert low.shape == high.shape
    assert np.abs(low - high).max() < 0.1 * np.abs(high).max()


# Other architectures: tiny random models built from their configs


def _decoder_configs(tokenizer) -> dict:
    import transformers as tf

    ids = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    small = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, max_position_embeddings=128)
    llama_like = dict(small, num_key_value_heads=2, intermediate_size=48)
    return {
        "gpt_neo": (
            tf.GPTNeoConfig(
                num_layers=2,
                hidden_size=32,
                num_heads=4,
                attention_types=[[["global", "local"], 1]],
                window_size=8,
                max_position_embeddings=128,
                **ids,
            ),
            128,
        ),
        "gpt_neox (parallel residual)": (tf.GPTNeoXConfig(**small, intermediate_size=64, **ids), 64),
        "gpt_neox (sequential residual)": (
            tf.GPTNeoXConfig(**small, intermediate_size=64, use_parallel_residual=False, **ids),
            64,
        ),
        "llama": (tf.LlamaConfig(**llama_like, **ids), 48),
        "mistral": (tf.MistralConfig(**llama_like, **ids), 48),
        "qwen2": (tf.Qwen2Config(**llama_like, **ids), 48),
        "qwen3": (tf.Qwen3Config(**llama_like, head_dim=8, **ids), 48),
        "opt (pre-norm)": (
            tf.OPTConfig(**small, ffn_dim=64, word_embed_proj_dim=32, pad_token_id=tokenizer.bos_token_id, **ids),
            64,
        ),
        "opt (post-norm, like opt-350m)": (
            tf.OPTConfig(
                **small,
                ffn_dim=64,
                word_embed_proj_dim=32,
                do_layer_norm_before=False,
                pad_token_id=tokenizer.bos_token_id,
                **ids,
            ),
            64,
        ),
    }


DECODERS = [
    "gpt_neo",
    "gpt_neox (parallel residual)",
    "gpt_neox (sequential residual)",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "opt (pre-norm)",
    "opt (post-norm, like opt-350m)",
]


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory, minilm_dir) -> Path:
    """A tiny RoBERTa encoder with random weights, reusing MiniLM's WordPiece tokenizer ([CLS]/[SEP])."""
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("roberta")
    RobertaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def decoder_folders(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """Each decoder architecture saved to its own folder with the tiny byte-level BPE: name -> (folder, MLP width)."""
    from transformers import AutoModelForCausalLM

    tokenizer = train_tokenizer()
    out = {}
    for name, (config, width) in _decoder_configs(tokenizer).items():
        torch.manual_seed(0)
        folder = tmp_path_factory.mktemp(name.split()[0])
        AutoModelForCausalLM.from_config(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        out[name] = (folder, width)
    assert sorted(out) == sorted(DECODERS)
    return out


@pytest.fixture(scope="module", params=DECODERS)
def decoder(request, decoder_folders):
    folder, width = decoder_folders[request.param]
    return request.param, load_model(str(folder)), width


@pytest.fixture(scope="module", params=[*DECODERS, "bert (all-MiniLM-L6-v2)", "roberta"])
def any_model(request, decoder_folders):
    """Every decoder above, the packaged MiniLM (BERT) and a tiny RoBERTa: (name, LoadedModel, MLP width)."""
    if request.param.startswith("bert"):
        return request.param, request.getfixturevalue("minilm"), 1536
    if request.param == "roberta":
        return request.param, load_model(str(request.getfixturevalue("roberta_dir"))), 64
    folder, width = decoder_folders[request.param]
    return request.param, load_model(str(folder)), width


def test_each_decoder_architecture_loads_with_its_adapter(decoder):
    name, model, _ = decoder
    model_type = name.split()[0]
    assert model.model.config.model_type == model_type
    assert model.adapter is ADAPTERS[model_type]
    assert (model.n_layers, model.d_model, model.context) == (2, 32, 128)


def test_every_hook_point_is_captured_with_sane_shapes(any_model):
    """Every hook point gives float32 [n_layers, n_tokens, width]: d, or the MLP's hidden width for neurons."""
    name, model, mlp_width = any_model
    ids = None
    for hook in HOOK_POINTS:
        acts = capture(model, TEXT, hook)
        ids = acts.token_ids if ids is None else ids
        assert np.array_equal(acts.token_ids, ids)
        width = mlp_width if hook == "mlp_neurons" else model.d_model
        assert acts.vectors.shape == (model.n_layers, len(ids), width), (name, hook)
        assert acts.vectors.dtype == np.float32
        assert np.isfinite(acts.vectors).all()
        assert np.abs(acts.vectors).max(axis=-1).min() > 0, f"{name} {hook}: a token's vector is zero"
        assert not np.allclose(acts.vectors[0], acts.vectors[-1]), f"{name} {hook}: first and last layer agree"


MARKED_SEQUENTIAL = [name for name in DECODERS if ADAPTERS[name.split()[0]].sequential]


@pytest.mark.parametrize("name", MARKED_SEQUENTIAL)
def test_decoders_marked_sequential_add_up_their_residual_stream(name, decoder_folders):
    """Where the adapter says sequential: resid_post[l] = resid_post[l-1] + attn_out[l] + mlp_out[l]."""
    _assert_residual_identity(load_model(str(decoder_folders[name][0])))


@pytest.mark.parametrize("name", ["gpt_neox (parallel residual)", "gpt_neox (sequential residual)", "opt (pre-norm)"])
def test_residual_identity_also_holds_for_gpt_neox_and_pre_norm_opt(name, decoder_folders):
    """GPT-NeoX adds attention and MLP of the same input (x + attn(ln1 x) + mlp(ln2 x)): the sum still holds.

    Pre-norm OPT (every OPT but opt-350m) is sequential too. Both are marked non-sequential only
    because of their variants; this test shows where the identity holds anyway.
    """
    _assert_residual_identity(load_model(str(decoder_folders[name][0])))


def _assert_residual_identity(model) -> None:
    got = captured(model)
    hs = hidden_states(model, got["token_ids"])
    before = hs[0]
    for layer in range(model.n_layers):
        after = before + got["attn_out"][layer] + got["mlp_out"][layer]
        np.testing.assert_allclose(after, got["resid_post"][layer], atol=1e-5, rtol=0, err_msg=f"block {layer}")
        if layer < model.n_layers - 1:
            np.testing.assert_allclose(got["resid_post"][layer], hs[layer + 1], atol=1e-5, rtol=0)
        before = got["resid_post"][layer]


def _post_norm_identity(model, attn_norm: str, out_norm: str) -> None:
    """resid_post[l] = out_norm(mlp_out[l] + attn_norm(resid_post[l-1] + attn_out[l])) (post-LN blocks)."""
    got = captured(model)
    before = hidden_states(model, got["token_ids"])[0]
    for layer in range(model.n_layers):
        block = model.blocks()[layer]
        with torch.inference_mode():
            middle = block.get_submodule(attn_norm)(torch.from_numpy(before + got["attn_out"][layer]))
            after = block.get_submodule(out_norm)(middle + torch.from_numpy(got["mlp_out"][layer])).numpy()
        np.testing.assert_allclose(after, got["resid_post"][layer], atol=1e-5, rtol=0, err_msg=f"block {layer}")
        before = got["resid_post"][layer]


def test_post_norm_opt_blocks_add_up_through_their_layer_norms(decoder_folders):
    model = load_model(str(decoder_folders["opt (post-norm, like opt-350m)"][0]))
    assert not model.adapter.sequential
    _post_norm_identity(model, "self_attn_layer_norm", "final_layer_norm")


def test_bert_blocks_add_up_through_their_layer_norms(minilm, roberta_dir):
    """BERT is post-LN: resid_post = LN_out(mlp_out + LN_attn(resid_prev + attn_out)); MiniLM's real weights, RoBERTa."""
    for model in (minilm, load_model(str(roberta_dir))):
        assert not model.adapter.sequential
        _post_norm_identity(model, "attention.output.LayerNorm", "output.LayerNorm")


def test_bert_mlp_neurons_are_the_intermediate_activations(minilm):
    got = captured(minilm, ("mlp_neurons", "mlp_out"))
    for layer in range(minilm.n_layers):
        with torch.inference_mode():
            projected = minilm.blocks()[layer].output.dense(torch.from_numpy(got["mlp_neurons"][layer])).numpy()
        np.testing.assert_allclose(projected, got["mlp_out"][layer], atol=1e-5, rtol=0)


# Errors: one sentence that says what to do


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path))
    assert_one_sentence(str(err.value), "no config.json", "save_pretrained")


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path / "missing" / "model"))
    assert_one_sentence(str(err.value), "No folder at", "hub id")


def test_a_file_is_not_a_model_folder(tiny_gpt2_dir):
    with pytest.raises(ModelError) as err:
        load_model(str(tiny_gpt2_dir / "config.json"))
    assert_one_sentence(str(err.value), "is a file", "config.json")


def test_an_empty_model_name_is_refused():
    with pytest.raises(ModelError) as err:
        load_model("  ")
    assert_one_sentence(str(err.value), "No model given")


def test_an_unsupported_architecture_is_refused(tmp_path):
    """A real (tiny) T5 saved by transformers: its architecture has no adapter."""
    from transformers import T5Config, T5Model

    T5Model(T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)).save_pretrained(tmp_path)
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path))
    assert_one_sentence(str(err.value), "Architecture 't5'", "not supported", "gpt2")


def test_an_unknown_hook_point_is_refused(tiny_gpt2):
    for call in (lambda: check_hook("mlp_in"), lambda: capture(tiny_gpt2, TEXT, "mlp_in")):
        with pytest.raises(InputError) as err:
            call()
        assert_one_sentence(str(err.value), "Unknown hook point 'mlp_in'", "mlp_out")


def test_pickle_weights_are_refused_and_never_opened(tmp_path, tiny_gpt2_dir):
    """A folder with only pytorch_model.bin is refused before the pickle is read (it would leave a mark)."""
    import pickle

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_gpt2_dir / name, tmp_path / name)
    mark = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (Path.touch, (mark,))

    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps(Trap()))
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path))
    assert_one_sentence(str(err.value), "no safetensors weights", "convert")
    assert not mark.exists()


def test_remote_code_is_never_run(tmp_path):
    """A config asking for its own Python classes (auto_map) is refused and its code never executed."""
    mark = tmp_path / "executed"
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "sneaky",
                "auto_map": {
                    "AutoConfig": "configuration_sneaky.SneakyConfig",
                    "AutoModel": "modeling_sneaky.SneakyModel",
                },
            }
        )
    )
    for module in ("configuration_sneaky.py", "modeling_sneaky.py"):
        (tmp_path / module).write_text(f"open({str(mark)!r}, 'w').close()\n")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="config.json"):
        load_model(str(tmp_path))
    assert not mark.exists()


# The hub (in subprocesses: huggingface_hub reads its environment at import)


class _RepoNotFound(http.server.BaseHTTPRequestHandler):
    """Answers every request as the hub answers for a repository that does not exist."""

    def _not_found(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _not_found

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    """A local HTTP server on 127.0.0.1 that knows no repository; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RepoNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_cli_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert_one_sentence(lines[0][len("error: ") :], *fragments)


def test_an_unknown_hub_id_says_there_is_no_such_model(cli, fake_hub, tmp_path):
    result = cli(
        "report",
        "--model",
        "nobody/no-such-model",
        "--json",
        str(tmp_path / "out.json"),
        env={"HF_ENDPOINT": fake_hub, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")},
    )
    _assert_cli_error(result, "No model 'nobody/no-such-model' on the Hugging Face hub", "check the spelling")


def test_an_unreachable_hub_without_a_cached_copy_says_so_offline(cli, tmp_path):
    result = cli(
        "report",
        "--json",
        str(tmp_path / "out.json"),
        env={"HF_HOME": str(tmp_path / "empty-hf-home"), "HF_HUB_OFFLINE": "1"},
    )
    _assert_cli_error(
        result, "Cannot reach the Hugging Face hub and 'gpt2' is not in the local cache", "local model folder"
    )


def test_an_unreachable_hub_without_a_cached_copy_says_so_online(cli, tmp_path):
    result = cli(
        "report",
        "--model",
        "EleutherAI/pythia-70m",
        "--json",
        str(tmp_path / "out.json"),
        env={
            "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf"),
        },
    )
    _assert_cli_error(result, "Cannot reach the Hugging Face hub and 'EleutherAI/pythia-70m' is not in the local cache")


def test_the_default_hub_id_loads_from_the_hub_cache_through_snapshot_download(cli, tiny_gpt2, tiny_gpt2_dir, tmp_path):
    """The tiny model laid out as the hub cache's gpt2: the CLI's defaults load it offline, same results as the folder."""
    from core.report import ReportRequest, build_report

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--gpt2"
    shutil.copytree(tiny_gpt2_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    out = tmp_path / "hub.json"
    result = cli(
        "report", "--layer", "2", "--json", str(out), env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr
    from_hub = json.loads(out.read_text())
    from_folder = build_report(ReportRequest(model=str(tiny_gpt2_dir), layer=2), model=tiny_gpt2)
    assert from_hub["model"] == "gpt2" and from_hub["n_layers"] == 4
    assert from_hub["tokens"] == from_folder["tokens"]
    assert from_hub["best_pairs"] == from_folder["best_pairs"]
    for key in ("target_cosines", "max_pair_cosines"):
        np.testing.assert_allclose(from_hub[key], from_folder[key], rtol=0, atol=1e-6)
    for name in "ABC":
        np.testing.assert_allclose(from_hub["norms"][name], from_folder["norms"][name], rtol=1e-6)
