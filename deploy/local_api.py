"""`make local-api`: the built function and layer behind SAM CLI's own API Gateway emulation, without Docker.

Run under the SAM CLI venv (it imports samcli): `.venv-sam/bin/python -m deploy.local_api --build-dir .aws-sam/build`.

SAM's `LocalApigwService` does the API Gateway part exactly as `sam local start-api` does it: routes, payload v2
events and CORS read from the built template by SAM's own readers. Only its Lambda runner, which needs a container,
is replaced by `LocalLambda`: the function runs under the real runtime interface client (awslambdaric, under the
Lambda Python) against a small Runtime API served here, as in the Lambda execution environment:

- one execution environment, started at the first request (cold start) and reused while it lives (warm); requests
  wait for it one at a time, where Lambda would start a second environment for a concurrent request;
- the function's environment: the template's variables (with the parameter overrides), SAM's AWS_* and Lambda's own
  variables (LAMBDA_TASK_ROOT, AWS_LAMBDA_RUNTIME_API, _HANDLER, ...);
- layout: /var/task and /opt are links named like Lambda's mount points, in a scratch directory, to the build's
  PredictFunction and ModelLayer (this machine's /opt is taken and /var/task needs root); PYTHONPATH and MODEL_DIR
  point through them as Lambda's /opt/python and /opt/model would. Nothing may be written there, as on Lambda's
  read-only mounts: PYTHONDONTWRITEBYTECODE keeps Python from trying. TMPDIR is the scratch directory's tmp/.
- a timeout kills the environment and answers Lambda's `Sandbox.Timedout` error; an init error (import failure,
  invalid settings) is the error the runtime interface client reports, with Lambda's INIT_REPORT line; SAM's
  emulation answers both 500 {"message": "Internal server error"}, as an HTTP API does for a failed invocation, and
  the log has the error as Lambda reports it.

Ctrl-C (or SIGTERM) stops the server and the function process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.provider import Function
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.apigw.local_apigw_service import LocalApigwService
from samcli.local.lambdafn.env_vars import EnvironmentVariables

LOG = logging.getLogger("local_api")
REPO_ROOT = Path(__file__).resolve().parents[1]
RUNTIME_API_PREFIX = "/2018-06-01/runtime"
DEFAULT_LAMBDA_PYTHON = REPO_ROOT / ".venv-lambda" / "bin" / "python"


class LocalApiError(Exception):
    """A setup problem, reported as one line saying what to do."""


@dataclass
class Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    # Set by the Runtime API: the function's response body, or Lambda's error object.
    response: bytes | None = None
    error: dict[str, Any] | None = None


class RuntimeApi:
    """The Lambda Runtime API the runtime interface client polls: invocation/next, /response, /error, init/error.

    One execution environment: at most one invocation is handed out at a time."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.current: Invocation | None = None
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        self.polled = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                LOG.debug("runtime api: " + format, *args)

            def do_GET(self) -> None:
                if self.path != f"{RUNTIME_API_PREFIX}/invocation/next":
                    self.reply(404, b'{"errorMessage": "unknown path"}')
                    return
                api.polled.set()
                invocation = api.pending.get()
                api.current = invocation
                self.reply(
                    200,
                    invocation.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:local",
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(RUNTIME_API_PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = parse_error(body)
                    api.init_failed.set()
                    self.reply(202, b'{"status": "OK"}')
                    return
                invocation = api.current
                if (
                    len(parts) != 3
                    or parts[0] != "invocation"
                    or invocation is None
                    or parts[1] != invocation.request_id
                ):
                    self.reply(400, b'{"errorMessage": "unknown invocation"}')
                    return
                if parts[2] == "response":
                    invocation.response = body
                elif parts[2] == "error":
                    invocation.error = parse_error(body)
                else:
                    self.reply(404, b'{"errorMessage": "unknown path"}')
                    return
                api.current = None
                invocation.done.set()
                self.reply(202, b'{"status": "OK"}')

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A poll from an environment that was just killed (timeout, init error) loses its connection.
                LOG.debug("runtime api: connection from %s ended", client_address, exc_info=True)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """A new execution environment: nothing pending from the old one."""
        self.init_error = None
        self.init_failed.clear()
        self.polled.clear()
        self.current = None
        # A new queue: a poll of the killed environment may still be waiting on the old one.
        self.pending = queue.Queue()


def parse_error(body: bytes) -> dict[str, Any]:
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        return {"errorMessage": body.decode("utf-8", "replace"), "errorType": "Runtime.Unknown"}
    return error


@dataclass(frozen=True)
class FunctionLayout:
    """Where the function's code and layer are seen from inside the environment."""

    task_root: Path
    opt: Path
    tmp: Path


def lay_out(function_dir: Path, layer_dirs: list[Path], scratch: Path) -> FunctionLayout:
    if len(layer_dirs) > 1:
        raise LocalApiError(f"the function has {len(layer_dirs)} layers; local-api lays out one as /opt")
    task_root = scratch / "var" / "task"
    opt = scratch / "opt"
    tmp = scratch / "tmp"
    task_root.parent.mkdir(parents=True)
    task_root.symlink_to(function_dir.resolve(), target_is_directory=True)
    if layer_dirs:
        opt.symlink_to(layer_dirs[0].resolve(), target_is_directory=True)
    else:
        opt.mkdir()
    tmp.mkdir()
    return FunctionLayout(task_root, opt, tmp)


class LocalLambda:
    """The `lambda_runner` LocalApigwService calls: invoke(name, event, stdout=..., stderr=...) and is_debugging().

    Runs the one function of the template in one warm execution environment (see the module docstring)."""

    def __init__(
        self,
        function: Function,
        layout: FunctionLayout,
        environment: dict[str, str],
        lambda_python: Path,
        log: TextIO,
    ) -> None:
        self.function = function
        self.layout = layout
        self.environment = environment
        self.lambda_python = lambda_python
        self.timeout_s = float(function.timeout or 3)
        self.memory_mb = int(function.memory or 128)
        self.log = log
        self.runtime_api = RuntimeApi()
        self.runtime_api.start()
        self.process: subprocess.Popen[bytes] | None = None
        self.init_duration_ms: float | None = None
        self.lock = threading.Lock()

    def is_debugging(self) -> bool:
        return False

    def invoke(self, function_identifier: str, event: str, stdout: Any = None, stderr: Any = None, **_: Any) -> None:
        with self.lock:
            result = self.run_one(event.encode("utf-8"))
        stdout.write_str(result.decode("utf-8"))

    def run_one(self, event: bytes) -> bytes:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        deadline_s = started + self.timeout_s
        invocation = Invocation(request_id, event, int((time.time() + self.timeout_s) * 1000))
        self.say(f"START RequestId: {request_id} Version: $LATEST")
        init_error = self.ensure_started(deadline_s)
        if init_error is not None:
            return self.finish(request_id, started, init_error)
        # Lambda reports the init apart (Init Duration); the invocation's Duration starts after it.
        started = time.monotonic()
        self.runtime_api.pending.put(invocation)
        while not invocation.done.wait(0.05):
            if self.runtime_api.init_failed.is_set() and self.runtime_api.init_error is not None:
                return self.finish(request_id, started, self.runtime_api.init_error, stop=True)
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                error = {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                }
                return self.finish(request_id, started, error, stop=True)
            if time.monotonic() > deadline_s:
                now = time.strftime("%Y-%m-%dT%H:%M:%S")
                self.say(f"{now} {request_id} Task timed out after {self.timeout_s:.2f} seconds")
                error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {self.timeout_s:.2f} seconds",
                }
                return self.finish(request_id, started, error, stop=True)
        if invocation.error is not None:
            return self.finish(request_id, started, invocation.error)
        return self.finish(request_id, started, None, invocation.response or b"null")

    def ensure_started(self, deadline_s: float) -> dict[str, Any] | None:
        """Start the execution environment when there is none; Lambda's init error when its init fails."""
        if self.process is not None and self.process.poll() is None:
            return None
        self.runtime_api.reset()
        env = {**self.environment, "AWS_LAMBDA_RUNTIME_API": self.runtime_api.address}
        init_started = time.monotonic()
        self.process = subprocess.Popen(
            [str(self.lambda_python), "-m", "awslambdaric", str(self.function.handler)],
            cwd=self.layout.task_root,
            env=env,
            stdin=subprocess.DEVNULL,
            # The function's own output is its log, as in CloudWatch.
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        while not self.runtime_api.polled.is_set():
            if self.runtime_api.init_failed.wait(0.05):
                break
            if self.process.poll() is not None:
                self.runtime_api.init_error = self.runtime_api.init_error or {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited with error: exit status {self.process.returncode}",
                }
                break
            if time.monotonic() > deadline_s:
                self.runtime_api.init_error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.timeout_s:.2f} seconds",
                }
                break
        self.init_duration_ms = (time.monotonic() - init_started) * 1000
        if self.runtime_api.init_error is not None:
            error = self.runtime_api.init_error
            self.say(
                f"INIT_REPORT Init Duration: {self.init_duration_ms:.2f} ms Phase: init Status: error"
                f" Error Type: {error.get('errorType')}"
            )
            self.stop_process()
            return error
        return None

    def finish(
        self,
        request_id: str,
        started: float,
        error: dict[str, Any] | None,
        response: bytes = b"",
        stop: bool = False,
    ) -> bytes:
        duration_ms = (time.monotonic() - started) * 1000
        if error is not None:
            # What Lambda logs for a failed invocation; the invoke returns it (SAM answers 500, as an HTTP API does).
            self.say(json.dumps(error))
        init = f"\tInit Duration: {self.init_duration_ms:.2f} ms" if self.init_duration_ms is not None else ""
        self.init_duration_ms = None
        self.say(f"END RequestId: {request_id}")
        self.say(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tMemory Size: {self.memory_mb} MB{init}"
            + ("\tStatus: error" if error is not None else "")
        )
        if stop:
            self.stop_process()
        if error is not None:
            return json.dumps(
                {"errorMessage": error.get("errorMessage", ""), "errorType": error.get("errorType", "")}
            ).encode()
        return response

    def say(self, line: str) -> None:
        self.log.write(line + "\n")
        self.log.flush()

    def stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        self.stop_process()
        self.runtime_api.stop()


def parse_overrides(values: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise LocalApiError(f"--parameter-overrides takes Name=Value pairs, not {value!r}")
        overrides[name] = setting
    return overrides


def function_environment(function: Function, layout: FunctionLayout) -> dict[str, str]:
    """SAM's own resolution of the function's variables (unresolved intrinsics become "", as in `sam local`), then
    what the Lambda execution environment adds."""
    variables = (function.environment or {}).get("Variables", {})
    sam_env = EnvironmentVariables(
        function.name,
        function.memory,
        function.timeout,
        function.handler,
        function_logging_config=function.logging_config,
        variables=variables,
        shell_env_values={},
        override_values={},
        aws_creds={"region": "us-east-1", "key": "local", "secret": "local"},
    ).resolve()
    # A variable whose value is still an intrinsic is one the template leaves out (Fn::If ... AWS::NoValue).
    unset = {key for key, value in variables.items() if isinstance(value, (dict, list))}
    env: dict[str, str] = {key: value for key, value in sam_env.items() if key not in unset}
    task_root = str(layout.task_root)
    opt = str(layout.opt)
    for name, value in env.items():
        # The template names Lambda's mount points; here they are the scratch directory's links.
        if value == "/opt" or value.startswith("/opt/"):
            env[name] = opt + value[len("/opt") :]
    env.update(
        LAMBDA_TASK_ROOT=task_root,
        LAMBDA_RUNTIME_DIR=str(Path(sys.executable).parent),
        _HANDLER=str(function.handler),
        AWS_EXECUTION_ENV=f"AWS_Lambda_{function.runtime}",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{function.functionname}",
        AWS_LAMBDA_LOG_STREAM_NAME="local",
        AWS_LAMBDA_INITIALIZATION_TYPE="on-demand",
        # Lambda's python3.13 sys.path: the function, then the layer's python/.
        PYTHONPATH=os.pathsep.join([task_root, f"{opt}/python/lib/python3.13/site-packages", f"{opt}/python"]),
        PYTHONDONTWRITEBYTECODE="1",
        PATH="/usr/local/bin:/usr/bin:/bin",
        LANG="en_US.UTF-8",
        TZ=":UTC",
        TMPDIR=str(layout.tmp),
        HOME=str(layout.tmp),
    )
    return env


def build_service(
    build_dir: Path, overrides: dict[str, str], host: str, port: int, lambda_python: Path, scratch: Path, log: TextIO
) -> tuple[LocalApigwService, LocalLambda]:
    template = build_dir / "template.yaml"
    if not template.is_file():
        raise LocalApiError(f"no built template at {template}: run `make build` (or `make local-api`, which builds)")
    if not lambda_python.is_file():
        raise LocalApiError(f"no Lambda Python at {lambda_python}: run `make local-api` (it creates .venv-lambda)")
    stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=overrides)
    api = ApiProvider(stacks).api
    # Only the function the API's routes invoke: the stack's other functions (the CodeDeploy pre-traffic hook) are
    # never called through API Gateway.
    routed = {route.function_name for route in api.routes}
    functions = [
        function
        for function in SamFunctionProvider(stacks, use_raw_codeuri=True).get_all()
        if {function.name, function.function_id, function.functionname, function.full_path} & routed
    ]
    if len(functions) != 1:
        raise LocalApiError(f"{template}: the API routes invoke {len(functions)} functions; local-api runs exactly one")
    function = functions[0]
    function_dir = (build_dir / str(function.codeuri)).resolve()
    layer_dirs = [(build_dir / str(layer.codeuri)).resolve() for layer in function.layers]
    for directory in [function_dir, *layer_dirs]:
        if not directory.is_dir():
            raise LocalApiError(f"{directory} is missing: run `make build`")
    layout = lay_out(function_dir, layer_dirs, scratch)
    runner = LocalLambda(function, layout, function_environment(function, layout), lambda_python, log)
    service = LocalApigwService(api=api, lambda_runner=runner, port=port, host=host)
    service.create()
    return service, runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local_api", description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / ".aws-sam" / "build")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameters, as for sam"
    )
    parser.add_argument("--lambda-python", type=Path, default=DEFAULT_LAMBDA_PYTHON)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # SAM's readers log every parameter they resolve at INFO and Flask logs each request: keep the function's log.
    logging.getLogger("samcli").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="sklambda-local-api-") as scratch:
        try:
            overrides = parse_overrides(args.parameter_overrides)
            service, runner = build_service(
                # absolute(), not resolve(): the venv's python is a link, and the venv is found through it.
                args.build_dir,
                overrides,
                args.host,
                args.port,
                args.lambda_python.absolute(),
                Path(scratch),
                sys.stderr,
            )
        except LocalApiError as error:
            sys.stderr.write(f"local-api: {error}\n")
            return 2
        routes = sorted({f"{' '.join(sorted(route.methods))} {route.path}" for route in service.api.routes})
        cors = service.api.cors.allow_origin if service.api.cors else "none"
        banner = [f"local-api: http://{args.host}:{args.port} (Ctrl-C stops it)", *(f"  {r}" for r in routes)]
        sys.stderr.write("\n".join([*banner, f"  CORS allowed origins: {cors}", ""]))
        sys.stderr.flush()
        # Ctrl-C stops the server even when started in the background, where SIGINT arrives ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            service.run()
        except KeyboardInterrupt:
            pass
        except Exception as error:  # SAM's SIGTERM handler raises its own exception type to stop the server.
            if type(error).__name__ != "ProcessSigTermException":
                raise
        finally:
            runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
