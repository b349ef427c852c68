"""One invocation of a deployed function, in a fresh interpreter: what Lambda's Python runtime does, played locally.

Run as a script, never imported by the function: `python -I -S function_host.py CODE_DIR HANDLER ANSWER_FILE
[DEPENDENCY_DIR ...]`, with the invocation ({"event", "timeoutSeconds", "functionName", "memoryMb"}) on
stdin. `-I -S` keep the interpreter's path to the standard library, the function's code directory and its
dependency set: nothing of the project's checkout (no editable install, no current directory) can stand
in for the deployed code. The answer file receives {"result": ...} or {"error": {"type", "message"}}, as
Lambda reports a function error; the function's logs go to stdout and stderr, as in Lambda.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    """Lambda's context object, with a real clock behind the remaining time."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str]) -> int:
    code_dir, handler_name, answer_file, *dependencies = argv
    sys.path[:0] = [code_dir, *dependencies]
    # Lambda starts the function in its code directory (the package reads its config by a relative path).
    os.chdir(code_dir)
    invocation = json.load(sys.stdin)
    context = Context(invocation["functionName"], invocation["timeoutSeconds"], invocation["memoryMb"])
    try:
        module_name, _, function_name = handler_name.rpartition(".")
        module = importlib.import_module(module_name)
        package = module_name.split(".")[0]
        origin = getattr(sys.modules[package], "__file__", None) or ""
        if not os.path.realpath(origin).startswith(os.path.realpath(code_dir) + os.sep):
            raise ImportError(f"{package} was imported from {origin}, not from the deployed code in {code_dir}")
        result = getattr(module, function_name)(invocation["event"], context)
    except Exception as error:
        traceback.print_exc()
        answer = json.dumps({"error": {"type": type(error).__name__, "message": str(error)}})
    else:
        try:
            answer = json.dumps({"result": result})
        except (TypeError, ValueError) as error:
            # Lambda cannot return what JSON cannot hold either.
            answer = json.dumps({"error": {"type": "Runtime.MarshalError", "message": str(error)}})
    with open(answer_file, "w", encoding="utf-8") as file:
        file.write(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
