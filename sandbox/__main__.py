"""`python -m sandbox serve`: a long-lived local account on localhost (docs/SANDBOX.md).

The first line on stdout is ONE JSON object with the endpoints, the client environment and the stack
outputs; everything else (progress, errors) goes to stderr. The same line is written to a file that
`autopilot --sandbox` reads (removed at exit). Serves until SIGINT or SIGTERM, and stops cleanly even
when whoever read its output is gone (a closed pipe); a second signal during that stop exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autopilot_cli.target import SANDBOX_FILE_ENV, default_sandbox_file
from sandbox import shared_loader
from sandbox.server import DEFAULT_STEP_SECONDS, BadRequest, SandboxServer


def _context_pair(text: str) -> tuple[str, Any]:
    """`key=value` like `cdk -c`; the value is parsed as JSON when it is JSON, else kept as text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _json_file(text: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(text).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None
    if not isinstance(document, dict):
        raise argparse.ArgumentTypeError(f"{text}: expected a JSON object")
    return document


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a local account on localhost until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to bind (default 127.0.0.1; the sandbox has no authentication)")
    serve.add_argument("--aws-port", type=int, default=0, help="moto server port (default: a free port)")
    serve.add_argument("--omics-port", type=int, default=0, help="HealthOmics emulator port (default: free)")
    serve.add_argument("--control-port", type=int, default=0, help="control API port (default: free)")
    serve.add_argument("--seed", type=int, default=0, help="seed of every random choice (ids, faults)")
    serve.add_argument("--autoplay-speed", type=_non_negative, default=0.0,
                       help="virtual seconds to advance per real second in the background (default 0: off)")
    serve.add_argument("--step-seconds", type=_positive, default=DEFAULT_STEP_SECONDS,
                       help="granularity of clock advances: handlers run after each step (default 60)")
    serve.add_argument("-c", "--context", type=_context_pair, action="append", default=[], metavar="KEY=VALUE",
                       help="CDK context override for the synthesized stack, like `cdk -c` (repeatable)")
    serve.add_argument("--template", type=_json_file, default=None, metavar="PATH",
                       help="use this synthesized CloudFormation template instead of synthesizing the app")
    serve.add_argument("--faults", type=_json_file, default=None, metavar="PATH",
                       help="initial fault plan (the JSON body of POST /faults)")
    serve.add_argument("--endpoints-file", type=Path, default=None, metavar="PATH",
                       help=f"where to write the endpoints line for `autopilot --sandbox` (default "
                            f"${SANDBOX_FILE_ENV} or {default_sandbox_file()})")
    serve.add_argument("--no-demo-workflow", dest="demo_workflow", action="store_false",
                       help="start without the registered demo workflow (and its workflowId default)")
    return parser


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep stdout clean for the endpoints line: anything written while starting (synthesis, Node
    warnings, libraries) goes to stderr, at the file-descriptor level so child processes obey too."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _say(stream: Any, text: str) -> None:
    """Write a line; a reader that went away (a closed pipe, a killed `| head`) is not our failure."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, ValueError, OSError):
        with contextlib.suppress(OSError):  # later writes (and the flush at exit) go nowhere, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class StopSignals:
    """The handler of SIGINT and SIGTERM: the first asks the server to stop cleanly; a second one, while that
    stop is under way (a clock operation finishing its step, a thread slow to join), exits at once, as a
    second Ctrl-C does in most tools. It does only what takes no lock: Python runs it in the main thread,
    which may hold one (sys.stderr's buffer, an Event's) at that very moment; the main thread says what it
    received once `wait()` returns."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            # os.write is one system call: no Python-level lock to meet, unlike sys.stderr.write
            os.write(2, b"sandbox: stopped at once, without a clean shutdown\n")
            os._exit(128 + signum)
        self.server.request_stop()


def serve(args: argparse.Namespace) -> int:
    # The process's botocore sessions (boto3's default twice, moto's regions) and moto's models share their
    # parsed service models: 12.5 + 3.7 % of the instructions from start to stop, measured with cachegrind.
    shared_loader.install()
    server = SandboxServer(host=args.host, aws_port=args.aws_port, omics_port=args.omics_port,
                           control_port=args.control_port, seed=args.seed, context=dict(args.context),
                           template=args.template, faults=args.faults, autoplay_speed=args.autoplay_speed,
                           step_seconds=args.step_seconds, demo_workflow=args.demo_workflow)

    stop_signals = StopSignals(server)
    signal.signal(signal.SIGTERM, stop_signals)
    signal.signal(signal.SIGINT, stop_signals)
    endpoints_file: Path = args.endpoints_file or default_sandbox_file()
    with _stdout_to_stderr():
        server.start()
    line = json.dumps(server.endpoints, default=str)
    try:
        _say(sys.stdout, line)
        endpoints_file.parent.mkdir(parents=True, exist_ok=True)
        endpoints_file.write_text(line + "\n", encoding="utf-8")
        exports = " ".join(f"{k}={v}" for k, v in server.client_env.items())
        _say(sys.stderr, f"sandbox: serving; the CLI: autopilot --sandbox ... (endpoints in {endpoints_file})\n"
                         f"sandbox: for your scripts: export {exports}\n"
                         f"sandbox: control API {server.control_url} (docs/SANDBOX.md); Ctrl-C to stop")
        server.wait()
        if stop_signals.received:
            _say(sys.stderr, f"sandbox: {signal.Signals(stop_signals.received[0]).name}, stopping "
                             "(once more to exit at once)")
    finally:
        # The interpreter's closing garbage collections walk the whole heap (moto's backends and models): 0.85
        # of the 1.4 s the process took to exit after SIGTERM; so does the one that the account's restored
        # collection thresholds set off in stop() (1.8 % of a start and stop's instructions, cachegrind).
        # Nothing frozen needs finalizing: stop() closes what is open.
        gc.freeze()
        server.stop()
        with contextlib.suppress(OSError):  # only our own file: another sandbox may have started since
            if endpoints_file.read_text(encoding="utf-8").strip() == line:
                endpoints_file.unlink()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except BadRequest as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
