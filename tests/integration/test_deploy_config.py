"""compose.yaml and the Kubernetes manifests are valid and agree with each other."""
import glob
import os
import subprocess
import sys

import yaml

SRC = os.environ["ACCOLADE_SOURCE_DIR"]
PROCESSES = {"svc-nomination": 50051, "svc-award": 50052, "svc-leaderboard": 50053,
             "svc-notify": 50054, "gateway": 50050}


def main():
    passed = failed = 0

    def expect(name, cond, detail=""):
        nonlocal passed, failed
        print(("ok   " if cond else "FAIL ") + name + ("" if cond else "  " + str(detail)))
        passed += 1 if cond else 0
        failed += 0 if cond else 1

    r = subprocess.run(["docker-compose", "-f", os.path.join(SRC, "compose.yaml"), "config", "-q"],
                       capture_output=True, text=True)
    expect("compose_config_is_valid", r.returncode == 0, r.stderr)
    compose = yaml.safe_load(open(os.path.join(SRC, "compose.yaml")))
    for name in PROCESSES:
        svc = compose["services"].get(name, {})
        expect("compose_has_" + name, bool(svc))
        expect("compose_%s_has_healthcheck" % name, "healthcheck" in svc)
    expect("compose_has_postgres_and_redis",
           "postgres" in compose["services"] and "redis" in compose["services"])
    # `docker compose up --scale svc-award=3`: a scaled service may not fix a
    # container name or a host port, and callers reach every replica by name.
    env = compose["x-accolade"]["environment"]
    for name, port in PROCESSES.items():
        svc = compose["services"].get(name, {})
        if name.startswith("svc-"):
            expect("compose_%s_scales" % name, "container_name" not in svc and "ports" not in svc, svc)
            addr = env.get("ACCOLADE_%s_ADDR" % name[4:].upper(), "")
            expect("compose_%s_addressed_by_dns" % name, addr == "dns:///%s:%d" % (name, port), addr)

    docs = []
    for path in sorted(glob.glob(os.path.join(SRC, "deploy", "k8s", "*.yaml"))):
        for d in yaml.safe_load_all(open(path)):
            if d:
                docs.append((os.path.basename(path), d))
    for fname, d in docs:
        expect("%s_%s_has_required_fields" % (fname, d.get("kind")),
               all(k in d for k in ("apiVersion", "kind", "metadata")) and "name" in d["metadata"])
    by_kind = {}
    for _, d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    config = by_kind.get("ConfigMap", {}).get("accolade-config")
    secret = by_kind.get("Secret", {}).get("accolade-secrets")
    expect("configmap_and_secret_exist", config is not None and secret is not None)
    for name, port in PROCESSES.items():
        dep = by_kind.get("Deployment", {}).get(name)
        expect("deployment_" + name, dep is not None)
        if not dep:
            continue
        c = dep["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        expect(name + "_grpc_port", ports.get("grpc") == port, ports)
        expect(name + "_grpc_readiness_probe", c["readinessProbe"]["grpc"]["port"] == port)
        expect(name + "_grpc_liveness_probe", c["livenessProbe"]["grpc"]["port"] == port)
        expect(name + "_selector_matches_labels",
               dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"])
        refs = {list(e.values())[0]["name"] for e in c["envFrom"]}
        expect(name + "_config_from_configmap_and_secret", refs == {"accolade-config", "accolade-secrets"})
        svc = by_kind.get("Service", {}).get(name)
        expect(name + "_service_selects_deployment",
               svc is not None and svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"])
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(name)
        expect(name + "_hpa_targets_deployment",
               hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == name)
        if name.startswith("svc-"):
            env = name[4:].upper()
            expect(name + "_has_own_dsn", "ACCOLADE_%s_PG" % env in secret["stringData"])
            # The gateway calls every svc-*: a headless Service (one DNS record
            # per ready pod) and a dns:/// target, so calls spread over pods.
            expect(name + "_service_is_headless",
                   svc is not None and svc["spec"].get("clusterIP") == "None", svc and svc["spec"])
            addr = config["data"].get("ACCOLADE_%s_ADDR" % env, "")
            expect(name + "_addressed_by_dns",
                   addr == "dns:///%s.accolade.svc.cluster.local:%d" % (name, port), addr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
