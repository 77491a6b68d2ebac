# tobira's worker for Python trigger handlers (embedded in tobira; see ports/triggers/local.rs).
# Loads one handler, then serves invocations one at a time. Requests and replies are
# newline-delimited JSON on file descriptor 3 (a Unix socket); stdout and stderr are the
# handler's own, logged by tobira.
import asyncio
import decimal
import importlib.util
import inspect
import json
import os
import socket
import sys
import time
import traceback

FILE = os.environ.pop("TOBIRA_HANDLER_FILE")
EXPORTS = os.environ.pop("TOBIRA_HANDLER_EXPORTS", "handler").split(",")
MARKER = os.environ.pop("TOBIRA_SENTINEL", "").encode()

sys.dont_write_bytecode = True
chan = socket.socket(fileno=3)
chan.set_inheritable(False)
reader = chan.makefile("rb")


def send(msg):
    chan.sendall(json.dumps(msg).encode() + b"\n")


def error_info(e):
    return {
        "errorType": type(e).__name__,
        "errorMessage": str(e),
        "stackTrace": traceback.format_tb(e.__traceback__),
    }


def sync_output(seq):
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    for fd in (1, 2):
        try:
            os.write(fd, MARKER + str(seq).encode() + b"\n")
        except OSError:
            pass


class LambdaContext:
    def __init__(self, req):
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = req.get("invokedFunctionArn")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = req.get("requestId")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = req.get("deadlineMs", 0)

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, msg):
        sys.stdout.write(str(msg))


def default(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def load():
    root = os.path.dirname(FILE)
    if root not in sys.path:
        sys.path.insert(0, root)
    name = os.path.splitext(os.path.basename(FILE))[0]
    spec = importlib.util.spec_from_file_location(name, FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for export in EXPORTS:
        fn = getattr(module, export, None)
        if callable(fn):
            return fn
    raise type("HandlerNotFound", (Exception,), {})(
        f"Handler '{EXPORTS[0]}' missing on module '{name}'"
    )


def main():
    try:
        handler = load()
    except Exception as e:
        info = error_info(e)
        if info["errorType"] == "HandlerNotFound":
            info["errorType"] = "Runtime.HandlerNotFound"
        else:
            info["errorMessage"] = f"Unable to import module '{os.path.basename(FILE)}': {e}"
            info["errorType"] = (
                "Runtime.UserCodeSyntaxError" if isinstance(e, SyntaxError) else "Runtime.ImportModuleError"
            )
        traceback.print_exc()
        send({"type": "init_error", **info})
        return 1
    send({"type": "ready"})
    for line in reader:
        if not line.strip():
            continue
        req = json.loads(line)
        seq = req["id"]
        try:
            result = handler(req.get("event"), LambdaContext(req))
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            try:
                out = json.dumps({"type": "result", "id": seq, "ok": True, "result": result}, default=default)
            except (TypeError, ValueError) as e:
                out = json.dumps({
                    "type": "result", "id": seq, "ok": False,
                    "errorType": "Runtime.MarshalError",
                    "errorMessage": f"Unable to marshal response: {e}",
                })
        except Exception as e:
            print(f"[ERROR] {type(e).__name__}: {e}", file=sys.stderr)
            traceback.print_exc()
            out = json.dumps({"type": "result", "id": seq, "ok": False, **error_info(e)})
        sync_output(seq)
        chan.sendall(out.encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
