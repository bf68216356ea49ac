"""TLS on the public port and between processes, with Debian's python3-grpcio
as the outside client and certificates made here with the openssl tool:

- a process with ACCOLADE_TLS_CERT/KEY speaks TLS only (plaintext fails);
- with ACCOLADE_TLS_CLIENT_CA it also requires a client certificate;
- the gateway, itself on TLS, reaches a mutual-TLS upstream with
  ACCOLADE_UPSTREAM_TLS_CA/CERT/KEY, and refuses to start on a bad file;
- the gateway's frame-level front (the default) terminates the public
  port's TLS itself: a public method it forwards, a path it passes to the
  gateway's inner server (health, the test route), mutual TLS, and the
  connections it refuses (plaintext, no h2 in ALPN, a handshake never
  begun, closed within ACCOLADE_GATEWAY_TLS_HANDSHAKE_MS).
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures

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


def code_of(fn):
    """The status code of a call that should fail (OK if it did not)."""
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def call(ch, path, req=b"", metadata=()):
    return ch.unary_unary(path, request_serializer=IDENT, response_deserializer=IDENT)(
        req, timeout=10, metadata=list(metadata))


def field1(ch, path, metadata=()):
    """Field 1 of the answer to an empty request to |path|, or the error."""
    try:
        return parse_fields(call(ch, path, b"", metadata)).get(1)
    except grpc.RpcError as e:
        return e


def fake_award(port_holder):
    """A plaintext upstream for AwardService/ListBadges: it answers with the
    user the gateway signed onto the call (field 1)."""
    def list_badges(req, ctx):
        return field_str(1, dict(ctx.invocation_metadata()).get("x-accolade-user", ""))
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "accolade.v1.AwardService", {"ListBadges": grpc.unary_unary_rpc_method_handler(list_badges)}),))
    port_holder.append(srv.add_insecure_port("127.0.0.1:0"))
    srv.start()
    return srv


def closed_within(port, seconds, ctx=None):
    """Seconds until the server closes a connection that sends nothing (a raw
    TCP one, or TLS with |ctx| once its handshake is done), or None if it is
    still open after |seconds|."""
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    t0 = time.monotonic()
    try:
        if ctx:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        return time.monotonic() - t0 if s.recv(1) == b"" else None
    except (ConnectionError, ssl.SSLError):
        return time.monotonic() - t0
    except socket.timeout:
        return None
    finally:
        s.close()


def tls_refused(port, ca, alpn):
    """True when a TLS handshake offering |alpn| (None: no ALPN) fails, or the
    connection is closed right after it without a byte."""
    ctx = ssl.create_default_context(cafile=ca)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return closed_within(port, 5, ctx) is not None


def metric(port, line_start):
    """The value of the first /metrics line starting with |line_start|, or 0."""
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    return 0


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

            # 3b. The gateway's front on TLS (upstreams in plaintext): what it
            # forwards itself (a method of the table), what it passes to the
            # gateway's own server (health, the test route), what it refuses.
            plain_port = free_port()
            procs.append(start("accolade-testsvc", {}, plain_port))
            award_port = []
            upstreams = [fake_award(award_port)]
            front_port, front_metrics = free_port(), free_port()
            front_env = {"ACCOLADE_TLS_CERT": path("server.pem"), "ACCOLADE_TLS_KEY": path("server.key"),
                         "ACCOLADE_JWT_HS256_SECRET": "tls-test-secret",
                         "ACCOLADE_REDIS": gw_env["ACCOLADE_REDIS"],
                         "ACCOLADE_AWARD_ADDR": "127.0.0.1:%d" % award_port[0],
                         "ACCOLADE_LEADERBOARD_ADDR": "127.0.0.1:%d" % free_port(),   # nothing there
                         "ACCOLADE_GATEWAY_TLS_HANDSHAKE_MS": "1000",
                         "ACCOLADE_GATEWAY_TEST_ROUTE": "/accolade.test.v1.TestService/=127.0.0.1:%d" % plain_port}
            procs.append(start("gateway-test", dict(front_env, ACCOLADE_METRICS_PORT=str(front_metrics)), front_port))
            bearer = [("authorization", "Bearer " + token)]
            ch4 = grpc.secure_channel("127.0.0.1:%d" % front_port, creds)
            wait_ready(ch4)
            got = field1(ch4, "/accolade.v1.AwardService/ListBadges", bearer)
            expect("front_tls_public_method_reaches_its_upstream", got == b"tina", got)
            expect("front_tls_public_method_without_its_upstream_is_unavailable",
                   code_of(lambda: call(ch4, "/accolade.v1.LeaderboardService/GetTop", b"", bearer)) ==
                   grpc.StatusCode.UNAVAILABLE)
            expect("front_tls_anonymous_call_is_unauthenticated",
                   code_of(lambda: call(ch4, "/accolade.v1.AwardService/ListBadges")) ==
                   grpc.StatusCode.UNAUTHENTICATED)
            expect("front_tls_test_route_through_the_inner_server", echo(ch4, "inner", bearer) == b"inner")
            health = field1(ch4, "/grpc.health.v1.Health/Check")
            expect("front_tls_health_check", health == 1, health)
            expect("front_tls_plaintext_is_refused",
                   code_of(lambda: echo(grpc.insecure_channel("127.0.0.1:%d" % front_port), "plain", bearer)) ==
                   grpc.StatusCode.UNAVAILABLE)
            took = closed_within(front_port, 5)
            expect("front_tls_silent_connection_closed_within_the_handshake_bound",
                   took is not None and 0.9 < took < 3.5, took)
            expect("front_tls_alpn_without_h2_is_refused", tls_refused(front_port, path("ca.pem"), ["http/1.1"]))
            expect("front_tls_no_alpn_is_refused", tls_refused(front_port, path("ca.pem"), None))
            expect("front_tls_still_serves_after_refusals", echo(ch4, "again", bearer) == b"again")
            fails = 'accolade_gateway_tls_handshake_failures_total{reason="%s"}'
            expect("front_tls_failed_handshakes_are_counted",
                   metric(front_metrics, fails % "timeout") >= 1 and metric(front_metrics, fails % "alpn") >= 2,
                   (metric(front_metrics, fails % "timeout"), metric(front_metrics, fails % "alpn")))

            # Mutual TLS on the front.
            front_mtls = free_port()
            procs.append(start("gateway-test", dict(front_env, ACCOLADE_TLS_CLIENT_CA=path("ca.pem")), front_mtls))
            ch5 = grpc.secure_channel("127.0.0.1:%d" % front_mtls, with_cert)
            wait_ready(ch5)
            got = field1(ch5, "/accolade.v1.AwardService/ListBadges", bearer)
            expect("front_mtls_with_client_certificate", got == b"tina", got)
            expect("front_mtls_without_client_certificate_is_refused",
                   code_of(lambda: echo(grpc.secure_channel("127.0.0.1:%d" % front_mtls, creds), "no cert",
                                        bearer)) == grpc.StatusCode.UNAVAILABLE)

            # ACCOLADE_GATEWAY_FRONT=0: gRPC core serves the port, TLS and all.
            core_port = free_port()
            procs.append(start("gateway-test", dict(front_env, ACCOLADE_GATEWAY_FRONT="0"), core_port))
            ch6 = grpc.secure_channel("127.0.0.1:%d" % core_port, creds)
            wait_ready(ch6)
            got = field1(ch6, "/accolade.v1.AwardService/ListBadges", bearer)
            expect("front_off_grpc_core_serves_tls", got == b"tina", got)

            # A file the front cannot load stops the gateway at start, naming it.
            for name, env in (("certificate", {"ACCOLADE_TLS_CERT": path("missing.pem")}),
                              ("client_ca", {"ACCOLADE_TLS_CLIENT_CA": path("missing-ca.pem")}),
                              ("key", {"ACCOLADE_TLS_KEY": path("ca.key")})):
                bad = start("gateway-test", dict(front_env, **env), free_port())
                rc = bad.wait(timeout=30)
                err = bad.stderr.read().decode()
                want = list(env.values())[0]
                expect("front_tls_bad_%s_fails_start" % name, rc != 0 and want in err, (rc, err[-300:]))
            for u in upstreams:
                u.stop(0)

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
                    err = p.communicate(timeout=30)[1]
                except subprocess.TimeoutExpired:
                    p.kill()
                    err = p.communicate()[1]
                # In scripts/test's default build a sanitizer's report (a leak
                # found at exit among them) ends up here, and nowhere else.
                report = [ln for ln in err.decode(errors="replace").splitlines()
                          if "Sanitizer" in ln or "runtime error:" in ln]
                expect("stops_cleanly: %s %s" % (os.path.basename(p.args[0]), p.args[1]),
                       p.returncode == 0 and not report, (p.returncode, report[:5]))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
