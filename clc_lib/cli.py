"""The ``clc`` command: demo data, data checks, customer scores and the scheduled reports.

::

    clc demo-data [--out DIR] [--seed N]
    clc check  --config RUN.yaml
    clc score  --config RUN.yaml --out FILE.parquet|FILE.csv
    clc report --config RUN.yaml [--out DIR] [--only NAME ...] [--as-of DATE] [--jobs N] [--rederive-definitions]
               [--language LANG[,LANG]]

Exit codes: 0 success; 1 a report run with failed notebooks (published, marked failed);
2 bad input or config, or a folder that is full, read-only or not writable (any
:class:`clc_lib.errors.ClcError` or :class:`OSError`, printed without a traceback unless
``--debug`` is given; ``clc report`` then publishes nothing); 130 after Ctrl-C and 143 after
SIGTERM (a report run stops its notebooks and publishes nothing). Error messages have the
passwords of URLs and the values of the config's ``${NAME}`` variables masked. The analysis
modules are imported inside each command, so ``clc --help`` is fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED_NOTEBOOKS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Terminated(BaseException):
    """SIGTERM (a scheduler's timeout, a shutdown) turned into an exception so that cleanup runs."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated()


def _as_of_argument(text: str) -> dt.date:
    """``--as-of`` as a date; a bad date is an argument error (usage line, exit 2)."""
    from clc_lib.config import parse_as_of
    from clc_lib.errors import ConfigError

    try:
        return parse_as_of(text, what="the date")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _demo_data(args: argparse.Namespace) -> int:
    from clc_lib.demo import write_demo_data

    kwargs = {}
    if args.out is not None:
        kwargs["out_dir"] = args.out
    if args.seed is not None:
        kwargs["seed"] = args.seed
    written = write_demo_data(**kwargs)
    print(f"Demo data written{f': {written}' if written is not None else ''}.")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from clc_lib.run import load_run

    run = load_run(args.config, as_of=args.as_of)
    print(run.quality.render_text())
    return EXIT_OK


def _score(args: argparse.Namespace) -> int:
    from clc_lib.errors import ConfigError
    from clc_lib.run import load_run
    from clc_lib.scoring import score_customers, write_scores

    if Path(args.out).suffix.lower() not in (".parquet", ".csv"):
        raise ConfigError(f"--out {args.out}: give a file ending in .parquet or .csv.")
    if Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name such as {Path(args.out) / 'scores.csv'}.")
    run = load_run(args.config, as_of=args.as_of)
    scores = score_customers(run)
    try:
        write_scores(scores, args.out)
    except OSError as exc:  # a read-only folder, a full disk
        raise ConfigError(f"--out {args.out}: the scores cannot be written there ({exc.strerror}).") from None
    print(f"Scores of {len(scores):,} customers written to {args.out}.")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from clc_lib.report import run_report

    languages = [part for given in args.language or [] for part in given.split(",") if part.strip()]
    result = run_report(args.config, out=args.out, only=args.only, as_of=args.as_of, jobs=args.jobs,
                        rederive_definitions=args.rederive_definitions, language=languages or None)
    print(f"Reports: {result.path / 'index.html'}")
    if not result.ok:
        failed = [nb.name for nb in result.notebooks if not nb.ok]
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}. The run is published and marked "
              f"failed; 'latest' was not moved.", file=sys.stderr)
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clc", description="Customer lifecycle analytics: checks, scores and HTML reports from a run config.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo-data", help="write the demo business's data and run config")
    demo.add_argument("--out", type=Path, help="folder to write to (default data/raw/demo)")
    demo.add_argument("--seed", type=int, help="random seed (the same seed gives the same data)")
    demo.set_defaults(handler=_demo_data)

    check = commands.add_parser("check", help="load the data of a run config and print the data-quality summary")
    check.add_argument("--config", required=True, help="run config (YAML)")
    check.add_argument("--as-of", type=_as_of_argument, help="cut-off date YYYY-MM-DD (default: the config's)")
    check.set_defaults(handler=_check)

    score = commands.add_parser("score", help="write per-customer scores (stage, segment, CLV) to a file")
    score.add_argument("--config", required=True, help="run config (YAML)")
    score.add_argument("--out", required=True, help="output file, .parquet or .csv")
    score.add_argument("--as-of", type=_as_of_argument, help="cut-off date YYYY-MM-DD (default: the config's)")
    score.set_defaults(handler=_score)

    report = commands.add_parser("report", help="run the notebooks and publish HTML reports")
    report.add_argument("--config", required=True, help="run config (YAML)")
    report.add_argument("--out", type=Path, help="reports folder (default reports/)")
    report.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                        help="run only these notebooks (e.g. 01 or retention)")
    report.add_argument("--as-of", type=_as_of_argument, help="cut-off date YYYY-MM-DD passed to every notebook")
    report.add_argument("--jobs", type=int, help="notebooks run at a time (default: CPU cores)")
    report.add_argument("--rederive-definitions", action="store_true",
                        help="derive the stage thresholds from this run's data and pin them for the next runs "
                             "(default: keep those pinned by the first run)")
    report.add_argument("--language", action="append", metavar="LANG",
                        help="language of the reports: en, zh-Hans or zh-Hant; repeat it or separate with commas "
                             "for several, the first under the usual file names (default: the config's "
                             "report.language, else en)")
    report.set_defaults(handler=_report)
    return parser


def _os_error_text(error: OSError) -> str:
    """A failed read or write the command did not expect, as one line naming the file."""
    where = f" {error.filename}" if error.filename else ""
    return (f"Cannot read or write{where}: {error.strerror or error}. Check that the folder exists, has room and "
            "is writable.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clc`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from clc_lib.errors import ClcError
    from clc_lib.privacy import config_secret_values, redact

    in_main_thread = threading.current_thread() is threading.main_thread()  # signals need the main thread
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return args.handler(args)
    except (ClcError, OSError) as exc:
        if args.debug:
            raise
        text = str(exc) if isinstance(exc, ClcError) else _os_error_text(exc)
        message = redact(text, config_secret_values(getattr(args, "config", None)))
        print(f"clc {args.command}: error\n{message}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("clc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("clc: stopped by SIGTERM", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())
