#!/usr/bin/env bash
# Checks deploy/k8s as far as a machine without a cluster allows:
#  1. `kubectl kustomize` builds the manifests (YAML, kustomization);
#  2. validate_k8s_schema.py checks every object against the API's types (the
#     official Kubernetes Python client's models): unknown fields, wrong
#     types, missing required fields; first on a broken manifest, which it
#     must refuse;
#  3. `kubectl apply --dry-run=client` maps and decodes every object, against
#     the discovery documents of k8s_discovery_stub.py (no API server here);
#  4. the objects agree with rtrec: probes on /healthz and /readyz of the
#     metrics port, ports and the state volume as the mounted config says, a
#     preStop drain, and the mounted config (and compose's) passes
#     `rtrec_server --check_config`.
#
#   check_k8s.sh RTREC_SERVER_BINARY
set -euo pipefail
SERVER="$1"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d)"
STUB=""
cleanup() { if [ -n "$STUB" ]; then kill "$STUB" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
export HOME="$WORK"  # kubectl's cache and config stay in the scratch folder

kubectl kustomize "$ROOT/deploy/k8s" > "$WORK/all.yaml"

cat > "$WORK/broken.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  template:
    spec:
      containers:
        - name: rtrec
          image: rtrec:latest
          ports: [{containerPort: "grpc"}]
          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSecond: 10}
YAML
if /usr/bin/python3 "$ROOT/tests/deploy/validate_k8s_schema.py" "$WORK/broken.yaml" > "$WORK/broken.txt"; then
  echo "the schema check accepted a broken manifest"; exit 1
fi
for expected in "containerPort: expected int" "periodSecond: not a field of V1Probe" \
                "spec.selector: required by V1DeploymentSpec"; do
  grep -q "$expected" "$WORK/broken.txt" || { echo "the schema check missed: $expected"; cat "$WORK/broken.txt"; exit 1; }
done
/usr/bin/python3 "$ROOT/tests/deploy/validate_k8s_schema.py" "$WORK/all.yaml"

/usr/bin/python3 "$ROOT/tests/deploy/k8s_discovery_stub.py" "$WORK/port" &
STUB=$!
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
kubectl --server="http://127.0.0.1:$(cat "$WORK/port")" apply --dry-run=client --validate=false \
  -f "$WORK/all.yaml" | tee "$WORK/applied.txt"
for object in configmap/rtrec-config persistentvolumeclaim/rtrec-state deployment.apps/rtrec service/rtrec; do
  grep -q "^$object created (dry run)" "$WORK/applied.txt" || { echo "kubectl did not apply $object"; exit 1; }
done

/usr/bin/python3 - "$WORK/all.yaml" "$WORK/rtrec.yaml" <<'PY'
import sys
import yaml

objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(open(sys.argv[1])) if o}
failures = []
def expect(ok, what):
    if not ok:
        failures.append(what)

config_map = objects[("ConfigMap", "rtrec-config")]
rtrec = yaml.safe_load(config_map["data"]["rtrec.yaml"])
open(sys.argv[2], "w").write(config_map["data"]["rtrec.yaml"])
deployment = objects[("Deployment", "rtrec")]
pod = deployment["spec"]["template"]["spec"]
container = pod["containers"][0]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
for name, port in ports.items():
    expect(isinstance(port, int), f"containerPort {name} is not a number: {port!r}")
expect(ports.get("grpc") == int(rtrec["server"]["listen_address"].rsplit(":", 1)[1]),
       "the grpc containerPort is not server.listen_address's port")
expect(ports.get("metrics") == int(rtrec["server"]["metrics_address"].rsplit(":", 1)[1]),
       "the metrics containerPort is not server.metrics_address's port")
for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    get = container.get(probe, {}).get("httpGet", {})
    expect(get.get("path") == path and get.get("port") == "metrics",
           f"{probe} should GET {path} on the metrics port, has {get}")
expect("preStop" in container.get("lifecycle", {}), "no preStop drain")
expect(pod.get("terminationGracePeriodSeconds", 30) >= 30, "terminationGracePeriodSeconds below 30 s")
mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
volumes = {v["name"]: v for v in pod["volumes"]}
args = container["args"]
config_path = args[args.index("--config") + 1]
expect(config_path.rsplit("/", 1)[0] in mounts and
       volumes[mounts[config_path.rsplit("/", 1)[0]]].get("configMap", {}).get("name") == "rtrec-config",
       f"--config {config_path} is not in the mounted ConfigMap")
state = rtrec.get("storage", {}).get("path")
expect(state in mounts and "persistentVolumeClaim" in volumes[mounts[state]],
       f"storage.path {state} is not on a PersistentVolumeClaim")
claim = objects[("PersistentVolumeClaim", volumes[mounts[state]]["persistentVolumeClaim"]["claimName"])]
if "ReadWriteOnce" in claim["spec"]["accessModes"]:
    expect(deployment["spec"]["strategy"]["type"] == "Recreate" and deployment["spec"]["replicas"] == 1,
           "one ReadWriteOnce state volume needs one replica and the Recreate strategy")
service = objects[("Service", "rtrec")]
for p in service["spec"]["ports"]:
    expect(p["targetPort"] in ports, f"Service port {p['name']} targets unknown port {p['targetPort']}")
selector = deployment["spec"]["selector"]["matchLabels"]
labels = deployment["spec"]["template"]["metadata"]["labels"]
expect(all(labels.get(k) == v for k, v in selector.items()), "the selector does not match the pod labels")
expect(all(labels.get(k) == v for k, v in service["spec"]["selector"].items()),
       "the Service selector does not match the pod labels")
if failures:
    print("deploy/k8s:", *failures, sep="\n  ")
    sys.exit(1)
print(f"deploy/k8s: {len(objects)} objects agree with rtrec")
PY

"$SERVER" --check_config --config "$WORK/rtrec.yaml"
"$SERVER" --check_config --config "$ROOT/deploy/rtrec/rtrec.yaml"
