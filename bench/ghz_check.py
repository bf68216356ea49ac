#!/usr/bin/python3
"""bench/ghz_check.py - runs a ghz configuration's calls the way ghz does, for
a machine without ghz (it is in neither Debian nor npm): "total" calls from
"concurrency" threads, "metadata", "data" (an array is taken round-robin),
and ghz's template variables {{.RequestNumber}} and {{.TimestampUnixNano}}.
It reports the status of every call, so a configuration that would give ghz
errors is seen here. Not a load generator: python threads, no timing.

    bench/ghz_check.py CONFIG.json...
"""
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

import grpc
from google.protobuf import json_format

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO = os.path.join(ROOT, "proto")


def load_modules(tmp):
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(PROTO, "accolade")) for f in fs
             if f.endswith(".proto")]
    subprocess.run(["protoc", "-I", PROTO, "--python_out", tmp] + files, check=True)
    sys.path.insert(0, tmp)
    from google.protobuf import symbol_database  # noqa: E402
    import importlib
    for f in files:
        rel = os.path.relpath(f, PROTO)[:-len(".proto")].replace("/", ".") + "_pb2"
        importlib.import_module(rel)
    return symbol_database.Default().pool


def render(value, n):
    s = json.dumps(value)
    s = s.replace("{{.RequestNumber}}", str(n)).replace("{{.TimestampUnixNano}}", str(time.time_ns()))
    return json.loads(s)


def run(path, pool):
    cfg = json.load(open(path))
    service, method = cfg["call"].rsplit(".", 1)
    desc = pool.FindServiceByName(service).FindMethodByName(method)
    from google.protobuf import symbol_database
    req_cls = symbol_database.Default().GetSymbol(desc.input_type.full_name)
    resp_cls = symbol_database.Default().GetSymbol(desc.output_type.full_name)
    ch = grpc.insecure_channel(cfg["host"])
    call = ch.unary_unary("/%s/%s" % (service, method), request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)
    md = [(k.lower(), v) for k, v in cfg.get("metadata", {}).items()]
    data = cfg["data"]

    def one(n):
        d = data[n % len(data)] if isinstance(data, list) else data
        req = json_format.ParseDict(render(d, n), req_cls())
        try:
            call(req, metadata=md, timeout=20)
            return "OK"
        except grpc.RpcError as e:
            return "%s: %s" % (e.code().name, e.details())

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(cfg.get("concurrency", 50), 32)) as ex:
        results = list(ex.map(one, range(cfg["total"])))
    counts = collections.Counter(r if r == "OK" else r.split(":")[0] for r in results)
    errors = [r for r in results if r != "OK"]
    print("%-28s %-48s total %5d  %s%s" % (os.path.basename(path), cfg["call"], len(results),
                                           ", ".join("%s %d" % kv for kv in sorted(counts.items())),
                                           ("  e.g. " + errors[0]) if errors else ""))
    return not errors


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 64
    with tempfile.TemporaryDirectory() as tmp:
        pool = load_modules(tmp)
        ok = [run(p, pool) for p in sys.argv[1:]]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
