"""A separate Python process that runs test scripts, for the "a saved model reloads in a fresh
process" tests: started once per pytest run (under the run's KERAS_BACKEND), it never builds or
trains the models the tests save; each script runs in a new namespace, its stdout captured.
One process instead of one per test saves importing TensorFlow, Keras and the backend again for
every test (seconds each).

Protocol: one JSON line per script on stdin ({"script": "..."}); one JSON line back on the
original stdout ({"returncode": 0 or 1, "stdout": "...", "stderr": traceback}).
"""

import contextlib
import io
import json
import os
import sys
import traceback


def main():
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    for line in sys.stdin:
        script = json.loads(line)["script"]
        out, code, error = io.StringIO(), 0, ""
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(script, "<test script>", "exec"), {"__name__": "__main__"})
        except BaseException:  # noqa: BLE001 - report everything, keep serving
            code, error = 1, traceback.format_exc()
        reply.write(json.dumps({"returncode": code, "stdout": out.getvalue(),
                                "stderr": error}) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
