#!/usr/bin/env python3
"""The API discovery documents kubectl reads before a client-side dry run,
served on 127.0.0.1 for tests/deploy/check_k8s.sh: this machine has no
cluster. It lists the kinds of the core, apps and policy groups that rtrec's
manifests may use (with their real names, scopes and versions) and answers
NotFound for every object, so `kubectl apply --dry-run=client` maps each
manifest to its resource, decodes it and reports "created (dry run)". It
validates nothing itself; the real checks are kubectl's decoding and
check_k8s.sh's assertions.

    k8s_discovery_stub.py PORT_FILE     (writes the port it listens on)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def resources(*kinds):
    return [{"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
            for name, kind, namespaced in kinds]


DOCS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}}
        for g in ("apps", "policy", "networking.k8s.io", "autoscaling")]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources(
        ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
        ("services", "Service", True), ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("serviceaccounts", "ServiceAccount", True), ("namespaces", "Namespace", False))},
    "/apis/apps/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
                      "resources": resources(("deployments", "Deployment", True),
                                             ("statefulsets", "StatefulSet", True))},
    "/apis/policy/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1",
                        "resources": resources(("poddisruptionbudgets", "PodDisruptionBudget", True))},
    "/apis/networking.k8s.io/v1": {"kind": "APIResourceList", "apiVersion": "v1",
                                   "groupVersion": "networking.k8s.io/v1",
                                   "resources": resources(("networkpolicies", "NetworkPolicy", True))},
    "/apis/autoscaling/v1": {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "autoscaling/v1", "resources": []},
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/") or "/"
        doc = DOCS.get(path)
        if doc is None:
            self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404, "message": f"{path} not found"})
        else:
            self.send_json(200, doc)

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
