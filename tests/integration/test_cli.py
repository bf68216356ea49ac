"""The accolade CLI as a user runs it: token minting (verified independently
with Python's hmac) and health against a real process, with exit codes."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_runtime_python_client import free_port  # noqa: E402

BUILD = os.environ["ACCOLADE_BUILD_DIR"]
CLI = os.path.join(BUILD, "bin", "accolade")


def run(*args, env=None):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    passed = failed = 0

    def expect(name, cond, detail=""):
        nonlocal passed, failed
        print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + detail))
        passed += 1 if cond else 0
        failed += 0 if cond else 1

    rc, out, err = run("token", "--user", "alice", "--org", "acme", "--role", "manager",
                       "--team", "east", "--ttl", "600", "--secret", "s3cret")
    expect("token_exits_0", rc == 0, err)
    h, p, s = out.strip().split(".")
    claims = json.loads(b64d(p))
    expect("token_header_is_hs256", json.loads(b64d(h))["alg"] == "HS256")
    expect("token_claims", claims["sub"] == "alice" and claims["org"] == "acme"
           and claims["role"] == "manager" and claims["team"] == "east")
    expect("token_expiry", 590 <= claims["exp"] - int(time.time()) <= 600)
    good = hmac.new(b"s3cret", (h + "." + p).encode(), hashlib.sha256).digest()
    expect("token_signature_verifies", hmac.compare_digest(b64d(s), good))

    rc, _, err = run("token", "--org", "acme", "--secret", "x")
    expect("token_without_user_is_usage_error", rc == 64 and "--user" in err, err)
    rc, _, err = run("token", "--user", "a", "--org", "acme", "--role", "root", "--secret", "x")
    expect("token_bad_role_is_usage_error", rc == 64 and "--role" in err, err)
    rc, _, _ = run("frobnicate")
    expect("unknown_command_is_usage_error", rc == 64)

    port = free_port()
    proc = subprocess.Popen([os.path.join(BUILD, "bin", "accolade-testsvc"),
                             "--listen=127.0.0.1:%d" % port],
                            env=dict(os.environ, ACCOLADE_LOG_LEVEL="warn", ACCOLADE_METRICS_PORT="0"))
    try:
        deadline = time.time() + 20
        while True:
            rc, out, err = run("--addr", "127.0.0.1:%d" % port, "--json", "health")
            if rc == 0 or time.time() > deadline:
                break
            time.sleep(0.1)
        expect("health_serving_exits_0", rc == 0, err)
        expect("health_json", rc == 0 and json.loads(out)["status"] == "SERVING", out)
        rc, out, _ = run("--addr", "127.0.0.1:%d" % port, "health", "no.such.Service")
        expect("health_unknown_service_is_not_found", rc == 5, out)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rc, _, err = run("--addr", "127.0.0.1:%d" % port, "--timeout-ms", "2000", "health")
    expect("health_of_stopped_process_is_unavailable", rc == 14, err)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
