"""``python -m core batch``: one report per line of a JSON-lines file, the model loaded once.

Input: one JSON object a line, ``{"text_a": str, "text_b": str, "text_c": str}`` with optional ``"layer"``
(int), ``"alpha"`` (number) and ``"seed"`` (int >= 0) overriding the command's options for that line; blank
lines are skipped. Output: one JSON object a line, in input order: that triple's report (core/report.py;
format 2 when any of --top-k, --permutations, --seed, --center is given or the line has a seed, else format 1)
with ``"line": N`` (1-based line number in the input; a Part 4 cube of more than a million cells is written
beside the output as ``<OUT>.line<N>.pairs.npy`` and referenced as in a single report), or ``{"line": N, "error": "one sentence"}`` for a
line that cannot be used; the batch goes on. A progress bar goes to stderr. Exit status 2 with ``error: ...``
when the input is missing or unreadable, the output cannot be written, the model cannot be loaded, or no line
of the input is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from .checks import HOOK_POINTS, TextError, check_alpha
from .models import DEFAULT_MODEL, ModelError, load_model
from .report import ReportRequest, build_report, save_sidecar

TEXT_FIELDS = {"text_a": "A", "text_b": "B", "text_c": "C"}
LINE_OPTIONS = ("layer", "alpha", "seed")
FORMAT2_OPTIONS = ("top_k", "permutations", "seed")


class BatchError(Exception):
    """Why the whole batch cannot run (one sentence)."""


def add_parser(commands) -> None:
    """Register ``batch`` on the ``python -m core`` subcommands."""
    batch = commands.add_parser("batch", help="one report per line of a JSON-lines file (model loaded once)")
    batch.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local model folder (default gpt2)")
    batch.add_argument("--input", required=True, metavar="IN.jsonl", help='lines {"text_a", "text_b", "text_c"}')
    batch.add_argument("--output", required=True, metavar="OUT.jsonl", help="one report (or error) a line")
    batch.add_argument("--layer", type=int, default=6, help='default layer (a line\'s "layer" overrides it)')
    batch.add_argument("--alpha", type=float, default=1.0, help="target = B + alpha (B - A); a line may override it")
    batch.add_argument("--hook", default="mlp_out", help=f"one of {', '.join(HOOK_POINTS)}")
    batch.add_argument("--keep-first", action="store_true", help="analyse position 0 too")
    batch.add_argument("--center", action="store_true", help="mean-center the vectors at each layer (format 2)")
    batch.add_argument("--permutations", type=int, metavar="N", help="permutations per test (format 2; 0: none)")
    batch.add_argument("--seed", type=int, metavar="S", help="seed of the tests (format 2; a line may override it)")
    batch.add_argument("--top-k", type=int, metavar="K", help="rows of the top-k tables (format 2)")


def _request(args) -> ReportRequest:
    """The request every line starts from."""
    extras = {name: getattr(args, name) for name in FORMAT2_OPTIONS if getattr(args, name) is not None}
    format2 = bool(extras) or args.center
    return ReportRequest(
        model=args.model,
        layer=args.layer,
        alpha=args.alpha,
        hook=args.hook,
        skip_first=not args.keep_first,
        format=2 if format2 else 1,
        center=args.center,
        **extras,
    )


def line_request(base: ReportRequest, line: str) -> ReportRequest:
    """The request of one input line; ValueError with one sentence when the line cannot be used."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError("this line is not JSON.") from None
    if not isinstance(item, dict):
        raise ValueError(f"this line is a JSON {type(item).__name__}, not an object with text_a, text_b and text_c.")
    unknown = sorted(set(item) - set(TEXT_FIELDS) - set(LINE_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown field {unknown[0]!r}: a line has text_a, text_b, text_c and optionally layer, alpha, seed."
        )
    texts = {}
    for field, name in TEXT_FIELDS.items():
        text = item.get(field)
        if not isinstance(text, str):
            raise ValueError(f"{field} is missing or not a string.")
        texts[name] = text
    changes: dict = {"texts": texts}
    for field in ("layer", "seed"):
        if field in item:
            value = item[field]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{field} must be a whole number, got {value!r}.")
            changes[field] = value
    if "alpha" in item:
        alpha = item["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"alpha must be a number, got {alpha!r}.")
        changes["alpha"] = check_alpha(alpha)
    if "seed" in changes:
        changes["format"] = 2
    return replace(base, **changes)


def _progress(done: int, total: int, errors: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} lines, {errors} errors", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


def _read_lines(path: str) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines; BatchError when the file cannot be read or has no JSON."""
    if not os.path.isfile(path):
        raise BatchError(f"input file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [(number, text) for number, text in enumerate(handle, 1) if text.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise BatchError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    if not lines:
        raise BatchError(f"input file {path} is empty: write one JSON object a line")
    if not any(_is_json(text) for _, text in lines):
        raise BatchError(f"no line of {path} is JSON: write one JSON object a line")
    return lines


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    """Run the batch of ``args`` (parsed by ``add_parser``'s parser); returns the exit status."""
    try:
        lines = _read_lines(args.input)
        base = _request(args)
        base.check()
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            raise BatchError(f"cannot write {args.output}: folder {out_dir} does not exist")
        model = load_model(args.model)
    except (BatchError, ModelError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    errors = 0
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            for done, (number, text) in enumerate(lines, 1):
                try:
                    report = build_report(line_request(base, text), model=model)
                    row = {"line": number, **save_sidecar(report, f"{args.output}.line{number}")}
                except (TextError, ValueError, IndexError) as err:
                    row = {"line": number, "error": str(err)}
                    errors += 1
                except MemoryError:
                    row = {"line": number, "error": "out of memory: use shorter texts."}
                    errors += 1
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                _progress(done, len(lines), errors)
    except OSError as err:
        print(f"\nerror: cannot write {args.output}: {err.strerror}", file=sys.stderr)
        return 2
    return 0
