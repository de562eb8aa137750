"""Command line: ``python -m core report [options] --json OUT.json`` (see SPEC.md and core/report.py), and
``python -m core examples`` (the gallery names for ``report --example NAME``, core/gallery.py) and
``python -m core batch`` (one report per line of a JSON-lines file, core/batch.py).

Report format: 2 when any of --top-k, --permutations, --seed, --token, --center, --vocab, --steer is given, else 1 (SPEC.md's
format, byte for byte the same fields as before format 2 existed); ``--format 1|2`` says it explicitly.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import batch
from .checks import HOOK_POINTS, InputError
from .gallery import EXAMPLES
from .models import DEFAULT_MODEL, ModelError
from .report import ReportRequest, build_report, write_report
from .texts import DEFAULT_TEXTS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        raise SystemExit(_fail(message))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m core", description="MLP-projection recommender, headless.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    report = commands.add_parser("report", help="compute every part and write the report JSON")
    report.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local model folder (default gpt2)")
    report.add_argument("--example", metavar="NAME", help="texts A, B and C from the gallery (python -m core examples)")
    report.add_argument("--text-a", help="text A (default: the example's, else the textbook's)")
    report.add_argument("--text-b", help="text B (default: the example's, else the textbook's)")
    report.add_argument("--text-c", help="text C (default: the example's, else the textbook's)")
    report.add_argument("--layer", type=int, default=6)
    report.add_argument("--alpha", type=float, default=1.0, help="target = B + alpha (B - A)")
    report.add_argument("--hook", default="mlp_out", help=f"one of {', '.join(HOOK_POINTS)}")
    report.add_argument("--keep-first", action="store_true", help="analyse position 0 too")
    report.add_argument("--json", required=True, metavar="OUT.json", help="where to write the report")
    extras = report.add_argument_group(
        "format 2",
        "Any of these options makes the report format 2 (format 1 fields unchanged, plus the fields below); "
        "without them it is format 1, as SPEC.md writes it. --format chooses explicitly.",
    )
    extras.add_argument("--format", type=int, choices=(1, 2), help="report format (default: see above)")
    extras.add_argument("--top-k", type=int, metavar="K", help="rows of the top-k tables (default 5)")
    extras.add_argument(
        "--permutations", type=int, metavar="N", help="permutations / random draws per baseline (default 1000; 0: none)"
    )
    extras.add_argument("--seed", type=int, metavar="S", help="seed of the baselines (default 0)")
    extras.add_argument("--center", action="store_true", help="mean-center the vectors at each layer (every part)")
    extras.add_argument("--token", type=int, metavar="T", help="C token of the Part 4 extras (default: recommended)")
    _add_insight_options(report)
    commands.add_parser("examples", help="list the gallery of example texts, one name and idea a line")
    batch.add_parser(commands)
    return top


def _add_insight_options(report: argparse.ArgumentParser) -> None:
    """--vocab and --steer (format 2): what the target reads as, and what adding it does (core/report.py)."""
    group = report.add_argument_group("vocabulary and steering (format 2)")
    group.add_argument("--vocab", type=int, metavar="K", help="the target's K top/bottom vocabulary tokens")
    group.add_argument("--lens", choices=("logit", "raw"), default="logit", help="vocabulary lens (default logit)")
    group.add_argument("--steer", type=float, metavar="S", help="steer with strength S at --layer (0: off)")
    group.add_argument("--prompt", metavar="TEXT", help="the steering prompt (default: text C)")
    group.add_argument("--generate", type=int, metavar="N", help="greedy continuation of N tokens (default 20)")
    group.add_argument("--direction", choices=("target", "trend"), help="steering direction (default target)")


def _insight_options(args) -> dict:
    """ReportRequest fields of the --vocab/--steer options; ValueError for steering options without --steer."""
    given = [f"--{name}" for name in ("prompt", "generate", "direction") if getattr(args, name) is not None]
    if given and args.steer is None:
        raise ValueError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --steer S")
    options = {"vocab": args.vocab, "lens": "logit lens" if args.lens == "logit" else "raw", "steer": args.steer}
    options.update(
        {name: getattr(args, name) for name in ("prompt", "generate", "direction") if getattr(args, name) is not None}
    )
    return options


_FORMAT2_OPTIONS = {"top_k": "--top-k", "permutations": "--permutations", "seed": "--seed", "token": "--token"}
_INSIGHT_OPTIONS = {"vocab": "--vocab", "steer": "--steer"}


def _attach_negative_numbers(argv: list[str]) -> list[str]:
    """``--alpha -1e12`` as ``--alpha=-1e12``: argparse would read a negative exponent number as an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and arg.startswith("-") and _is_number(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(_attach_negative_numbers(list(argv)))
    if args.command == "batch":
        return batch.run(args)
    if args.command == "examples":
        width = max(map(len, EXAMPLES))
        for name, example in EXAMPLES.items():
            print(f"{name:<{width}}  {example.idea}")
        return 0
    if args.example is not None and args.example not in EXAMPLES:
        return _fail(f"unknown example '{args.example}': choose one of {', '.join(EXAMPLES)}")
    texts = dict(EXAMPLES[args.example].texts if args.example is not None else DEFAULT_TEXTS)
    given_texts = {"A": args.text_a, "B": args.text_b, "C": args.text_c}
    texts.update({name: text for name, text in given_texts.items() if text is not None})
    given = [flag for name, flag in _FORMAT2_OPTIONS.items() if getattr(args, name) is not None]
    given += ["--center"] if args.center else []
    given += [flag for name, flag in _INSIGHT_OPTIONS.items() if getattr(args, name) is not None]
    try:
        insight = _insight_options(args)
    except ValueError as err:
        return _fail(str(err))
    if args.format == 1 and given:
        verb = "needs" if len(given) == 1 else "need"
        return _fail(f"{', '.join(given)} {verb} report format 2: leave out --format 1")
    extras = {name: getattr(args, name) for name in _FORMAT2_OPTIONS if getattr(args, name) is not None}
    request = ReportRequest(
        model=args.model,
        texts=texts,
        layer=args.layer,
        alpha=args.alpha,
        hook=args.hook,
        skip_first=not args.keep_first,
        format=args.format or (2 if given else 1),
        center=args.center,
        **extras,
        **insight,
    )
    out_dir = os.path.dirname(os.path.abspath(args.json))
    if not os.path.isdir(out_dir):
        return _fail(f"cannot write {args.json}: folder {out_dir} does not exist")
    try:
        report = build_report(request)
    except (ModelError, InputError, ValueError, IndexError) as err:
        return _fail(str(err))
    except MemoryError:
        return _fail("out of memory: use shorter texts or a smaller model")
    try:
        write_report(report, args.json)
    except OSError as err:
        return _fail(f"cannot write {args.json}: {err.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
