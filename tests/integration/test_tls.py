"""TLS on the public port and between processes, with Debian's python3-grpcio
as the outside client and certificates made here with the openssl tool:

- a process with ACCOLADE_TLS_CERT/KEY speaks TLS only (plaintext fails);
- with ACCOLADE_TLS_CLIENT_CA it also requires a client certificate;
- the gateway, itself on TLS, reaches a mutual-TLS upstream with
  ACCOLADE_UPSTREAM_TLS_CA/CERT/KEY, and refuses to start on a bad file.
"""
import os
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from pywire import field_str, free_port, parse_fields  # noqa: E402

BUILD = os.environ["ACCOLADE_BUILD_DIR"]
IDENT = lambda b: b  # noqa: E731
failures = 0


def expect(name, cond, detail=""):
    global failures
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + str(detail)))
    failures += 0 if cond else 1


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=accolade test CA", "-keyout", p("ca.key"), "-out", p("ca.pem"))
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:svc.accolade.test"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                "/CN=%s" % name, "-keyout", p(name + ".key"), "-out", p(name + ".csr"))
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", p(name + ".ext"), "-out", p(name + ".pem"))
    return {n: open(p(n), "rb").read() for n in ("ca.pem", "client.pem", "client.key")}, p


def start(binary, env, port):
    e = dict(os.environ, ACCOLADE_LOG_LEVEL="warn", ACCOLADE_METRICS_PORT="0",
             ACCOLADE_INTERNAL_KEY="tls-test-key")
    e.update(env)
    return subprocess.Popen([os.path.join(BUILD, "bin", binary), "--listen=127.0.0.1:%d" % port], env=e,
                            stderr=subprocess.PIPE)


def echo(ch, text, metadata=()):
    call = ch.unary_unary("/accolade.test.v1.TestService/Echo", request_serializer=IDENT,
                          response_deserializer=IDENT)
    return parse_fields(call(field_str(1, text), timeout=10, metadata=list(metadata))).get(1)


def wait_ready(ch):
    grpc.channel_ready_future(ch).result(timeout=20)


def main():
    procs = []
    with tempfile.TemporaryDirectory() as d:
        pem, path = make_certs(d)
        try:
            # 1. TLS on a process's port.
            tls_port = free_port()
            procs.append(start("accolade-testsvc", {"ACCOLADE_TLS_CERT": path("server.pem"),
                                                    "ACCOLADE_TLS_KEY": path("server.key")}, tls_port))
            creds = grpc.ssl_channel_credentials(root_certificates=pem["ca.pem"])
            ch = grpc.secure_channel("127.0.0.1:%d" % tls_port, creds)
            wait_ready(ch)
            expect("tls_call_succeeds", echo(ch, "over tls") == b"over tls")
            plain = grpc.insecure_channel("127.0.0.1:%d" % tls_port)
            try:
                echo(plain, "plaintext")
                expect("plaintext_is_refused", False)
            except grpc.RpcError as e:
                expect("plaintext_is_refused", e.code() == grpc.StatusCode.UNAVAILABLE, e.code())

            # 2. Mutual TLS: a client certificate from the CA is required.
            mtls_port = free_port()
            procs.append(start("accolade-testsvc", {"ACCOLADE_TLS_CERT": path("server.pem"),
                                                    "ACCOLADE_TLS_KEY": path("server.key"),
                                                    "ACCOLADE_TLS_CLIENT_CA": path("ca.pem")}, mtls_port))
            with_cert = grpc.ssl_channel_credentials(root_certificates=pem["ca.pem"],
                                                     private_key=pem["client.key"],
                                                     certificate_chain=pem["client.pem"])
            ch2 = grpc.secure_channel("127.0.0.1:%d" % mtls_port, with_cert)
            wait_ready(ch2)
            expect("mtls_with_client_certificate", echo(ch2, "mutual") == b"mutual")
            try:
                echo(grpc.secure_channel("127.0.0.1:%d" % mtls_port, creds), "no cert")
                expect("mtls_without_client_certificate_is_refused", False)
            except grpc.RpcError as e:
                expect("mtls_without_client_certificate_is_refused", e.code() == grpc.StatusCode.UNAVAILABLE,
                       e.code())

            # 3. The gateway: TLS outside, mutual TLS to the upstream.
            gw_port = free_port()
            gw_env = {"ACCOLADE_TLS_CERT": path("server.pem"), "ACCOLADE_TLS_KEY": path("server.key"),
                      "ACCOLADE_UPSTREAM_TLS_CA": path("ca.pem"),
                      "ACCOLADE_UPSTREAM_TLS_CERT": path("client.pem"),
                      "ACCOLADE_UPSTREAM_TLS_KEY": path("client.key"),
                      "ACCOLADE_JWT_HS256_SECRET": "tls-test-secret",
                      "ACCOLADE_REDIS": "127.0.0.1:%s" % os.environ.get("ACCOLADE_TEST_REDIS_PORT", "6379"),
                      "ACCOLADE_GATEWAY_TEST_ROUTE": "/accolade.test.v1.TestService/=127.0.0.1:%d" % mtls_port}
            procs.append(start("gateway-test", gw_env, gw_port))
            token = subprocess.run([os.path.join(BUILD, "bin", "accolade"), "token", "--secret", "tls-test-secret",
                                    "--user", "tina", "--org", "tls-org"], check=True, capture_output=True,
                                   text=True).stdout.strip()
            ch3 = grpc.secure_channel("127.0.0.1:%d" % gw_port, creds)
            wait_ready(ch3)
            expect("gateway_tls_to_mtls_upstream",
                   echo(ch3, "end to end", [("authorization", "Bearer " + token)]) == b"end to end")
            cli = [os.path.join(BUILD, "bin", "accolade"), "--addr", "127.0.0.1:%d" % gw_port, "--timeout-ms", "3000"]
            r = subprocess.run(cli + ["--tls-ca", path("ca.pem"), "health"], capture_output=True, text=True)
            expect("cli_speaks_tls_with_tls_ca", r.returncode == 0 and "SERVING" in r.stdout, (r.returncode, r.stderr))
            r = subprocess.run(cli + ["health"], capture_output=True, text=True)
            expect("cli_plaintext_to_tls_gateway_is_unavailable", r.returncode == 14, (r.returncode, r.stderr))
            r = subprocess.run(cli + ["--tls-ca", path("missing.pem"), "health"], capture_output=True, text=True)
            expect("cli_unreadable_ca_is_exit_66", r.returncode == 66 and "missing.pem" in r.stderr,
                   (r.returncode, r.stderr))

            # 4. A certificate that cannot be read stops the process at start.
            bad = start("accolade-testsvc", {"ACCOLADE_TLS_CERT": path("missing.pem"),
                                             "ACCOLADE_TLS_KEY": path("server.key")}, free_port())
            rc = bad.wait(timeout=30)
            err = bad.stderr.read().decode()
            expect("unreadable_certificate_fails_start", rc != 0 and "missing.pem" in err, (rc, err[-300:]))

            # 5. The gateway's test route cannot open a real method.
            bad = start("gateway-test", dict(gw_env, ACCOLADE_TLS_CERT="", ACCOLADE_GATEWAY_TEST_ROUTE=
                                        "/accolade.v1.LeaderboardService/=127.0.0.1:%d" % mtls_port), free_port())
            rc = bad.wait(timeout=30)
            expect("gateway_test_route_only_for_the_test_service", rc != 0, rc)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
