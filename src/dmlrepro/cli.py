"""Command line of the jobs the workflow runs: `dmlrepro train-cell`, `dmlrepro make-data`, …

Users normally run Snakemake targets; these commands are what the rules call, and they work on
their own for debugging one cell.

Errors: a `dmlrepro.errors.UserError` (a check of the harness's own: a config value, a data layout,
a file the user named) ends as one line on stderr, `dmlrepro: error: <how to fix it>`, exit 2.
Every other exception is a bug or an environment failure whose cause the traceback shows: the full
traceback goes to the job's log file (`--log`; stderr without one) and stderr gets one line,
`dmlrepro: internal error: <Type>: <message> (traceback in <log>)`, exit 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from dmlrepro.errors import UserError


def _setup_logging(log_file: str | None) -> None:
    console = logging.StreamHandler(sys.stderr)
    # With a log file, the console gets only warnings: parallel jobs would interleave otherwise.
    console.setLevel(logging.WARNING if log_file else logging.INFO)
    handlers: list[logging.Handler] = [console]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", handlers=handlers, force=True)


def cmd_train_cell(args: argparse.Namespace) -> None:
    from dmlrepro.tasks import get_task

    cell_file = Path(args.cell)
    if not cell_file.is_file():
        raise UserError(f"cell file {cell_file} does not exist; pass the cell.json the workflow wrote "
                        "(results/cells/<cell>/cell.json)")
    try:
        cell = json.loads(cell_file.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"cell file {cell_file} is not valid JSON ({exc}); delete it and let the workflow rewrite it") from None
    progress = open(args.progress_file, "a") if args.progress_file else sys.stderr
    record = get_task(cell.get("task", "reid")).train_cell(
        cell, args.seed, Path(args.out_dir), Path(args.checkpoint_dir), device_name=args.device,
        threads=args.threads, num_workers=args.num_workers, eval_batch_size=args.eval_batch_size,
        progress=not args.no_progress, progress_file=progress, reuse_weights=args.reuse_weights,
    )
    if record.get("diverged"):  # recorded as the seed's result (training/divergence.py)
        print(f"not computed: {record['diverged']['message']} (recorded in {Path(args.out_dir) / 'metrics.json'})")
    else:
        print(json.dumps(record["metrics"]))


def cmd_make_data(args: argparse.Namespace) -> None:
    from dmlrepro.tasks import task_for_dataset

    sizes = {"train_ids": args.train_ids, "test_ids": args.test_ids}
    print(task_for_dataset(args.variant).make_data(args.variant, Path(args.out), args.seed, sizes))


def cmd_check_data(args: argparse.Namespace) -> None:
    from dmlrepro.atomic_io import atomic_write_json
    from dmlrepro.tasks import task_for_dataset

    summary = task_for_dataset(args.dataset).check_data(args.dataset, args.root)
    atomic_write_json(args.out, summary)
    print(summary.pop("summary"))


def cmd_check_weights(args: argparse.Namespace) -> None:
    from dmlrepro.atomic_io import atomic_write_json
    from dmlrepro.models.resnet import ResNetBackbone, load_imagenet_weights

    load_imagenet_weights(ResNetBackbone(), args.source)
    atomic_write_json(args.out, {"source": args.source, "backbone": "resnet50", "loaded": True})
    print(f"ImageNet ResNet-50 weights available from {args.source}")


def cmd_targets(args: argparse.Namespace) -> None:
    from dmlrepro.plan import build_plan

    plan = build_plan({"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None})
    print("\n".join(plan.target_names()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dmlrepro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train-cell", help="train and evaluate one cell (resumes from its checkpoint)")
    train.add_argument("--cell", required=True, help="cell.json written by the workflow")
    train.add_argument("--seed", type=int, required=True)
    train.add_argument("--out-dir", required=True, help="where metrics.json and model.pt go")
    train.add_argument("--checkpoint-dir", required=True, help="kept outside the job's outputs, for resume")
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    train.add_argument("--threads", type=int, default=None)
    train.add_argument("--num-workers", type=int, default=0)
    train.add_argument("--eval-batch-size", type=int, default=128)
    train.add_argument("--log", default=None, help="log file")
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--progress-file", default=None, help="where the progress bars go (default stderr)")
    train.add_argument("--reuse-weights", action="store_true",
                       help="evaluate a finished run's weights from the checkpoint folder instead of retraining")
    train.set_defaults(func=cmd_train_cell)

    data = sub.add_parser("make-data", help="write a dataset's embedded synthetic stand-in in its real layout")
    data.add_argument("--variant", required=True, help="a dataset name: market1501, dukemtmc, cuhk03np, cub200, cars196, sop, inshop")
    data.add_argument("--out", required=True)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--train-ids", type=int, default=None)
    data.add_argument("--test-ids", type=int, default=None)
    data.add_argument("--log", default=None)
    data.set_defaults(func=cmd_make_data)

    check = sub.add_parser("check-data", help="check a dataset's layout and write its summary")
    check.add_argument("--dataset", required=True)
    check.add_argument("--root", required=True)
    check.add_argument("--out", required=True)
    check.add_argument("--log", default=None)
    check.set_defaults(func=cmd_check_data)

    weights = sub.add_parser("check-weights", help="check that the backbone's pretrained weights can be loaded")
    weights.add_argument("--source", required=True, help="imagenet or a path to a ResNet-50 state dict")
    weights.add_argument("--out", required=True)
    weights.add_argument("--log", default=None)
    weights.set_defaults(func=cmd_check_weights)

    targets = sub.add_parser("targets", help="list the workflow's named targets")
    targets.add_argument("--log", default=None)
    targets.set_defaults(func=cmd_targets)
    return parser


def _one_line(exc: BaseException) -> str:
    """The line that says what went wrong.  An exception re-raised from a DataLoader worker reads
    "Caught X in DataLoader worker process 0.\nOriginal Traceback ...\nX: <message>": its last
    line is the original message."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("Caught ") and "DataLoader worker" in lines[0] and len(lines) > 1:
        # The traceback's last line: "[module.]Type: message".
        return re.sub(rf"^(?:[\w.]+\.)?{re.escape(type(exc).__name__)}: ", "", lines[-1])
    return lines[0]


def _log_files() -> list[logging.FileHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


def _to_log_files(message: str, exc_info=None) -> None:
    """Write one record to the log files only (the console gets its own single line)."""
    record = logging.getLogger("dmlrepro").makeRecord("dmlrepro", logging.ERROR, __file__, 0, message, (), exc_info)
    for handler in _log_files():
        handler.handle(record)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "log", None))
    try:
        args.func(args)
    except UserError as exc:
        message = _one_line(exc)
        _to_log_files(f"{type(exc).__name__}: {message}")
        print(f"dmlrepro: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, or an environment failure: keep the traceback
        summary = f"{type(exc).__name__}: {_one_line(exc)}"
        logs = _log_files()
        if logs:
            _to_log_files(f"internal error: {summary}", sys.exc_info())
            where = ", ".join(h.baseFilename for h in logs)
        else:
            import traceback

            traceback.print_exc(file=sys.stderr)
            where = "stderr above"
        print(f"dmlrepro: internal error: {summary} (traceback in {where})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
