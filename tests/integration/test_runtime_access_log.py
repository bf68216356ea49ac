"""The access log, buffered (ACCOLADE_ACCESS_LOG_BUFFER, on by default), as an
operator reads it, with python3-grpcio as the client:

- every call's line is written within a second of the call, with no further
  traffic to push it out;
- a clean stop (SIGTERM) writes every line still buffered: none is lost;
- with the buffer off (0) the same holds, each line written as its call ends;
- with a buffer small enough to fill many times over (4096 bytes) under
  calls from several threads, every line is there, whole.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from pywire import field_str, free_port  # noqa: E402

BUILD = os.environ["ACCOLADE_BUILD_DIR"]
IDENT = lambda b: b  # noqa: E731
failures = 0
passes = 0


def expect(name, cond, detail=""):
    global failures, passes
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + str(detail)))
    failures += 0 if cond else 1
    passes += 1 if cond else 0


def access_lines(path, text):
    """The access lines of Echo calls whose request id starts with |text|."""
    n = 0
    with open(path) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("type") == "access" and o.get("request_id", "").startswith(text):
                n += 1
    return n


def start(log, port, env):
    e = dict(os.environ, ACCOLADE_LOG_LEVEL="info", ACCOLADE_METRICS_PORT="0", ACCOLADE_INTERNAL_KEY="log-test-key")
    e.update(env)
    return subprocess.Popen([os.path.join(BUILD, "bin", "accolade-testsvc"), "--listen=127.0.0.1:%d" % port],
                            env=e, stderr=log)


def calls(ch, prefix, n):
    call = ch.unary_unary("/accolade.test.v1.TestService/Echo", request_serializer=IDENT,
                          response_deserializer=IDENT)
    for i in range(n):
        call(field_str(1, "x"), timeout=10, metadata=[("x-request-id", "%s-%d" % (prefix, i))])


def run(buffer_bytes):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "server.log")
        port = free_port()
        with open(path, "w") as log:
            p = start(log, port, {"ACCOLADE_ACCESS_LOG_BUFFER": str(buffer_bytes)})
        try:
            ch = grpc.insecure_channel("127.0.0.1:%d" % port)
            grpc.channel_ready_future(ch).result(timeout=20)
            # four threads of 50 calls each: lines from both queues' threads at once
            ts = [threading.Thread(target=calls, args=(ch, "first-%d" % t, 50)) for t in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            deadline = time.monotonic() + 1.0
            while access_lines(path, "first") < 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            expect("buffer_%d_lines_written_within_a_second" % buffer_bytes, access_lines(path, "first") == 200,
                   access_lines(path, "first"))
            calls(ch, "last", 50)
            ch.close()
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=30)
        expect("buffer_%d_clean_stop" % buffer_bytes, rc == 0, rc)
        expect("buffer_%d_no_line_lost_at_a_clean_stop" % buffer_bytes, access_lines(path, "last") == 50,
               access_lines(path, "last"))


def main():
    run(65536)
    run(4096)
    run(0)
    print("%d passed, %d failed" % (passes, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
