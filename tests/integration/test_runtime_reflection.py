"""Server reflection, checked with an independent client (python3-grpcio and
python3-protobuf): list the services, fetch a service's file descriptors by
symbol, build the request type from them and make a real call with it."""
import os
import socket
import subprocess
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf import message_factory
    get_class = getattr(message_factory, "GetMessageClass", None)
except ImportError:  # pragma: no cover
    get_class = None

BUILD = os.environ["ACCOLADE_BUILD_DIR"]

sys.path.insert(0, os.path.dirname(__file__))
from test_runtime_python_client import field_str, parse_fields, free_port  # noqa: E402


def reflect(ch, path, requests):
    call = ch.stream_stream(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return [parse_fields(r) for r in call(iter(requests), timeout=10)]


def main():
    port = free_port()
    proc = subprocess.Popen([os.path.join(BUILD, "bin", "accolade-testsvc"),
                             "--listen=127.0.0.1:%d" % port],
                            env=dict(os.environ, ACCOLADE_LOG_LEVEL="warn"))
    passed = failed = 0

    def expect(name, cond):
        nonlocal passed, failed
        print(("ok   " if cond else "FAIL ") + name)
        passed += 1 if cond else 0
        failed += 0 if cond else 1

    try:
        ch = grpc.insecure_channel("127.0.0.1:%d" % port)
        grpc.channel_ready_future(ch).result(timeout=20)
        for version in ("v1alpha", "v1"):
            path = "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version
            # Two requests on one stream: list services, then a symbol's files.
            r = reflect(ch, path, [field_str(7, "*"), field_str(4, "grpc.health.v1.Health")])
            expect(version + "_two_replies_on_one_stream", len(r) == 2)
            listed = []
            lsr = r[0].get(6, b"")
            # ListServiceResponse: repeated ServiceResponse service = 1 (parse all).
            i = 0
            while i < len(lsr):
                ln = lsr[i + 1]
                listed.append(parse_fields(lsr[i + 2:i + 2 + ln]).get(1, b"").decode())
                i += 2 + ln
            expect(version + "_lists_health", "grpc.health.v1.Health" in listed)
            expect(version + "_lists_reflection", "grpc.reflection.v1alpha.ServerReflection" in listed)
            expect(version + "_lists_test_service", "accolade.test.v1.TestService" in listed)
            fdr = r[1].get(4)
            expect(version + "_file_descriptor_response", fdr is not None)
            if fdr is None:
                continue
            fd = descriptor_pb2.FileDescriptorProto()
            raw = parse_fields(fdr).get(1)
            fd.ParseFromString(raw)
            expect(version + "_health_proto_file", fd.name == "grpc/health/v1/health.proto")
            pool = descriptor_pool.DescriptorPool()
            pool.Add(fd)
            svc = pool.FindServiceByName("grpc.health.v1.Health")
            check = svc.FindMethodByName("Check")
            if get_class:
                req_cls = get_class(check.input_type)
                resp_cls = get_class(check.output_type)
            else:
                from google.protobuf import reflection as pr
                req_cls = pr.message_factory.MessageFactory(pool).GetPrototype(check.input_type)
                resp_cls = pr.message_factory.MessageFactory(pool).GetPrototype(check.output_type)
            call = ch.unary_unary("/grpc.health.v1.Health/Check",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp_cls.FromString)
            resp = call(req_cls(service=""), timeout=5)
            expect(version + "_call_built_from_reflection",
                   resp.status == check.output_type.fields_by_name["status"].enum_type
                   .values_by_name["SERVING"].number)
            missing = reflect(ch, path, [field_str(4, "accolade.v1.NoSuchThing")])
            expect(version + "_unknown_symbol_is_not_found",
                   len(missing) == 1 and parse_fields(missing[0].get(7, b"")).get(1) == 5)
        ch.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
