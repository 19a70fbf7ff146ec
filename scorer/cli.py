"""The batch scorer's command line: `python -m scorer INPUT... --out FILE` (console script
`fashion-mnist-score`): arguments, the model, the run, the summary and report, the exit status.

Scores image files, folders, IDX files, .npy arrays and CSVs with the served model (or a running
service with --url) and writes one row per image. Exit status: 0 done (error rows included unless
--strict), 1 error rows with --strict, 2 bad arguments / model / output (a write that failed: full
disk), 130 stopped by Ctrl-C.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from itertools import chain

from tqdm import tqdm

from inference.errors import ModelLoadError
from inference.predictor import BACKENDS, Predictor
from inference.decode import INVERT_CHOICES
from scorer.pool import WorkerFailed, pool_for
from scorer.ray_engine import RayMissing, RayPool, import_ray
from scorer.remote import RemoteError, RemoteModel
from scorer.report import ReportError, evaluate, format_report, write_report
from scorer.attributions_writer import AttributionsWriter, check_explain_output
from scorer.run import ExplainingModel, LocalModel, score
from scorer.sources import plan
from scorer.row_writer import WriteError, write_error
from scorer.writers import OutputExists, check_output, make_writer
from inference.devices import parse_device
from inference.settings import Settings, available_cpus


def build_parser() -> argparse.ArgumentParser:
    # The service's settings give the defaults (MODEL_DIR, MODEL_BACKEND, DEVICE, INVERT), so the
    # scorer and the server agree unless told otherwise.
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    cpus = available_cpus()
    parser = argparse.ArgumentParser(
        prog="fashion-mnist-score",
        description="Score images, folders, IDX files, .npy arrays and CSVs with the Fashion-MNIST model.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders (recursive), IDX images (raw or .gz), .npy, .csv")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output: *.csv, *.jsonl, or - for JSON Lines on stdout")
    parser.add_argument("--model-dir", default=str(settings.model_dir),
                        help="model folder (default: $MODEL_DIR, else ./artifacts)")
    parser.add_argument("--batch-size", type=_positive, default=256, help="images per prediction (default: 256)")
    parser.add_argument("--workers", type=_positive,
                        help="processes scoring image files (decode, predict, format; default: the CPUs "
                             f"this process may use, here {cpus}); with --engine ray, the actors (default: "
                             "the cluster's CPUs, or its GPUs with --device cuda)")
    parser.add_argument("--threads", type=_positive, default=1,
                        help="intra-op threads of the model in this process (default: 1; the workers "
                             "scoring image files use 1 each)")
    parser.add_argument("--backend", choices=BACKENDS, default=settings.model_backend,
                        help="(default: $MODEL_BACKEND, else onnx)")
    parser.add_argument("--device", default=settings.device, type=_device,
                        help="auto, cpu or cuda[:N] (default: $DEVICE, else auto)")
    parser.add_argument("--invert", choices=INVERT_CHOICES, default=settings.invert,
                        help="invert image files to light-on-dark; auto: when the background is light "
                             "(default: $INVERT, else auto; arrays are used as they are)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: worker processes on this machine; ray: Ray Data on a Ray cluster "
                             "(pip install 'fashion-mnist-serving[ray]') (default: local)")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="the Ray cluster for --engine ray, e.g. 10.0.0.5:6379 or auto (default: "
                             "$RAY_ADDRESS, else a Ray started for this run)")
    parser.add_argument("--url", help="score through the service at this URL (e.g. http://localhost:8000) "
                                      "instead of a local model; a service with API keys gets $API_KEY")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any image got an error row")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("--explain", metavar="FILE",
                        help="also write each image's attributions for its predicted class (docs/explain.md) "
                             "to FILE.npy, float32 [rows, 28, 28] in the output's row order, NaN for error "
                             "rows; a local model and --engine local only")
    parser.add_argument("--report", metavar="DIR",
                        help="write report.json (+ confusion.png, per_class.png when labels are known)")
    return parser


def _device(text: str) -> str:
    try:
        return parse_device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, cpu, cuda or cuda:N") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def load_model(args: argparse.Namespace):
    """The local Predictor, or the service at --url, behind one `predict(batch)` interface. With
    --engine ray the model here only names the classes and formats the rows (on a CPU): the
    actors predict, on --device."""
    if args.url:
        return RemoteModel(args.url, api_key=os.environ.get("API_KEY") or None)
    device = "cpu" if args.engine == "ray" else args.device
    predictor = Predictor.load(args.model_dir, backend=args.backend, device=device, threads=args.threads)
    if not args.explain:
        return LocalModel(predictor)
    if predictor.explainer is None:
        raise ValueError(f"--explain: {args.model_dir} has no explain.onnx (trained before explanations "
                         "existed); retrain to explain")
    return ExplainingModel(predictor)


def check_engine(args: argparse.Namespace) -> None:
    """--engine ray: Ray must be installed and the model local (ValueError / RayMissing)."""
    if args.engine != "ray":
        if args.ray_address:
            raise ValueError("--ray-address needs --engine ray")
        return
    if args.url:
        raise ValueError("--engine ray scores with a local model: leave out --url")
    import_ray()


def check_explain(args: argparse.Namespace) -> None:
    """--explain: a .npy output that may be written, a local model, the local engine (ValueError)."""
    if not args.explain:
        return
    if args.url or args.engine == "ray":
        raise ValueError("--explain explains with a local model and --engine local: leave out --url "
                         "and --engine ray")
    check_explain_output(args.explain, args.force)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The model loaders log why a device fell back; show that as one plain line.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    started = time.perf_counter()  # the summary's rate counts the model load too
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731 - stdout may carry the rows
    try:
        check_output(args.out, args.force)
        check_engine(args)
        check_explain(args)
        model = load_model(args)
    except (ValueError, OutputExists, ModelLoadError, RemoteError, RayMissing) as exc:
        say(f"error: {exc}")  # one line a user can act on, no traceback
        return 2
    try:
        return run(args, model, say, started)
    except (WorkerFailed, BrokenProcessPool, RemoteError, WriteError) as exc:  # rows written: whole lines
        say(f"error: {exc or 'a scoring worker died'}")
        _drop_stdout()
        return 2
    except BrokenPipeError:
        # `--out - | head`: the reader has all it wanted. Quietly, as a Unix tool stopped by SIGPIPE.
        _drop_stdout()
        return 128 + signal.SIGPIPE


def _drop_stdout() -> None:
    """stdout to /dev/null, so the interpreter's last flush cannot raise (and print) again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in a test): nothing to flush there
        pass


def run(args: argparse.Namespace, model, say, started: float) -> int:
    """Plan the inputs, score them into the output, then print the summary and the report."""
    sources = plan(args.inputs, model.classes, warn=lambda message: say(f"warning: {message}"))
    total = sum(source.count for source in sources)
    info = {"model": model.metadata.get("name", "fashion-mnist"), "version": model.version,
            "backend": model.backend, "device": model.device, "engine": args.engine}
    if args.engine == "ray":
        info["device"] = f"{args.device} (ray)"
    writer = make_writer(args.out, args.force, model.classes)
    explained = AttributionsWriter(args.explain, total) if args.explain else None
    stop = _StopOnCtrlC()
    try:
        with engine_pool(args, model, sources, type(writer)) as pool, \
                tqdm(total=total, unit="img", file=sys.stderr, disable=None, smoothing=0.1) as bar:
            batches = chain.from_iterable(source.batches(args.batch_size) for source in sources)
            tally = score(pool.scored(batches), model, writer, bar.update, stop, explained)
    finally:
        stop.restore()
        writer.close()
        if explained is not None:
            explained.close()
    seconds = time.perf_counter() - started
    summary = {"images": tally.images, "errors": tally.errors, "seconds": round(seconds, 3),
               "images_per_second": round(tally.images / seconds, 1) if seconds else None,
               "interrupted": tally.interrupted, "output": args.out, **info}
    if args.explain:
        summary["explain"] = args.explain
    return _finish(args, tally, summary, model.classes, say)


def engine_pool(args: argparse.Namespace, model, sources, writer):
    """Where the batches are scored: the local pool, or Ray (scorer.ray_engine)."""
    if args.engine == "ray":
        return RayPool(model, args.model_dir, args.device, args.invert, writer, args.workers, args.ray_address)
    return pool_for(model, sources, args.batch_size, args.workers or available_cpus(), args.invert,
                    args.model_dir, writer)


def _finish(args, tally, summary: dict, classes: list[str], say) -> int:
    """Summary line, evaluation when labels were known, --report files, and the exit status."""
    report_out = say if args.out == "-" else _printer
    say(f"scored {summary['images']} images in {summary['seconds']:.2f} s "
        f"({summary['images_per_second']} images/s), {summary['errors']} with errors -> {args.out}"
        + (" (interrupted by Ctrl-C)" if summary["interrupted"] else ""))
    if args.explain:
        say(f"attributions of the predicted classes -> {args.explain}")
    evaluation = None
    if tally.y_true:
        evaluation = evaluate(tally.y_true, tally.y_pred, classes)
        report_out(format_report(evaluation))
    if args.report:
        try:
            for path in write_report(args.report, {"summary": summary, "evaluation": evaluation}):
                say(f"wrote {path}")
        except ReportError as exc:
            say(f"warning: {exc}")
    if summary["interrupted"]:
        return 130
    return 1 if args.strict and summary["errors"] else 0


class _StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the batch it is writing (so every written line
    is whole); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        print("\nstopping after this batch (Ctrl-C again to quit at once)", file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._previous)


def _printer(text: str) -> None:
    """The evaluation on stdout; a stdout that cannot be written (a full disk) is a WriteError."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise write_error("-", exc) from None


if __name__ == "__main__":
    sys.exit(main())
