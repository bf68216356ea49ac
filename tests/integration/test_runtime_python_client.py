"""An independent client (Debian's python3-grpcio) against the C runtime.

Starts the test service, then calls Health.Check, Echo (hand-encoded
protobuf, no generated code needed), an unknown method and garbage bytes.
"""
import os
import subprocess
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from pywire import field_str, free_port, parse_fields, varint  # noqa: E402

BUILD = os.environ["ACCOLADE_BUILD_DIR"]


def main():
    port = free_port()
    env = dict(os.environ, ACCOLADE_LOG_LEVEL="warn")
    proc = subprocess.Popen([os.path.join(BUILD, "bin", "accolade-testsvc"),
                             "--listen=127.0.0.1:%d" % port], env=env)
    failures = 0
    passed = 0
    try:
        ch = grpc.insecure_channel("127.0.0.1:%d" % port)
        grpc.channel_ready_future(ch).result(timeout=20)
        ident = lambda b: b

        check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=ident,
                               response_deserializer=ident)
        deadline = time.time() + 20
        while True:
            resp = parse_fields(check(b"", timeout=5))
            if resp.get(1) == 1 or time.time() > deadline:
                break
            time.sleep(0.1)

        def expect(name, cond):
            nonlocal failures, passed
            print(("ok   " if cond else "FAIL ") + name)
            failures += 0 if cond else 1
            passed += 1 if cond else 0

        expect("health_check_is_serving", resp.get(1) == 1)

        echo = ch.unary_unary("/accolade.test.v1.TestService/Echo", request_serializer=ident,
                              response_deserializer=ident)
        out, call = echo.with_call(field_str(1, "from python"), timeout=5,
                                   metadata=[("x-request-id", "py-123")])
        fields = parse_fields(out)
        expect("echo_returns_text", fields.get(1) == b"from python")
        expect("echo_keeps_request_id", fields.get(5) == b"py-123")
        expect("request_id_in_initial_metadata",
               ("x-request-id", "py-123") in list(call.initial_metadata()))

        try:
            echo(varint(3 << 3 | 0) + varint(9) + field_str(4, "badge_id: must not be empty"), timeout=5)
            expect("error_status_raised", False)
        except grpc.RpcError as e:
            expect("error_status_code", e.code() == grpc.StatusCode.FAILED_PRECONDITION)
            expect("error_status_message", e.details() == "badge_id: must not be empty")
            expect("error_trailer", ("x-test-trailer", "present") in list(e.trailing_metadata()))

        missing = ch.unary_unary("/accolade.v1.Nope/Missing", request_serializer=ident,
                                 response_deserializer=ident)
        try:
            missing(b"", timeout=5)
            expect("unknown_method_fails", False)
        except grpc.RpcError as e:
            expect("unknown_method_unimplemented", e.code() == grpc.StatusCode.UNIMPLEMENTED)

        try:
            echo(b"\x0a\xff\xff\xff\xff\x0f", timeout=5)
            expect("garbage_fails", False)
        except grpc.RpcError as e:
            expect("garbage_is_invalid_argument", e.code() == grpc.StatusCode.INVALID_ARGUMENT)

        stream = ch.unary_stream("/accolade.test.v1.TestService/Stream", request_serializer=ident,
                                 response_deserializer=ident)
        seqs = [parse_fields(m).get(6, 0) for m in stream(varint(5 << 3 | 0) + varint(7), timeout=10)]
        expect("stream_delivers_in_order", seqs == list(range(7)))
        ch.close()
    finally:
        proc.terminate()
        rc = proc.wait(timeout=30)
    if rc != 0:
        print("FAIL service exit status %d" % rc)
        failures += 1
    print("%d passed, %d failed" % (passed, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
