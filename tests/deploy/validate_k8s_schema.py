#!/usr/bin/env python3
"""Checks Kubernetes manifests against the API's types offline: every object
is walked through the models of the official Kubernetes Python client
(Debian's python3-kubernetes, generated from the API's OpenAPI schema), so an
unknown field, a wrong type (a string where an int belongs, a map where a list
does) or a missing required field is reported with its path. What a
server-side dry run would also check (admission, defaults, cross-object
rules) needs a cluster.

    validate_k8s_schema.py MANIFESTS.yaml
"""
import re
import sys

import yaml
from kubernetes.client import models
from kubernetes.client.configuration import Configuration

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def model_of(api_version, kind):
    version = api_version.split("/")[-1]
    return getattr(models, f"{version[0].upper()}{version[1:]}{kind}", None)


def check(value, type_name, path, errors):
    if value is None:
        return
    if type_name in PRIMITIVES:
        expected = PRIMITIVES[type_name]
        if not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool)):
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return
    if type_name in ("object", "datetime", "date"):
        return  # IntOrString, Quantity, free-form, timestamps
    match = re.fullmatch(r"list\[(.+)\]", type_name)
    if match:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, match.group(1), f"{path}[{i}]", errors)
        return
    match = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if match:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for key, item in value.items():
            check(item, match.group(1), f"{path}.{key}", errors)
        return
    model = getattr(models, type_name, None)
    if model is None:
        errors.append(f"{path}: unknown type {type_name}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected a {type_name} object, got {type(value).__name__}")
        return
    json_to_python = {json: py for py, json in model.attribute_map.items()}
    for key, item in value.items():
        if key not in json_to_python:
            errors.append(f"{path}.{key}: not a field of {type_name}")
            continue
        check(item, model.openapi_types[json_to_python[key]], f"{path}.{key}", errors)
    # Required fields: the models' setters refuse None for them.
    probe = model.__new__(model)
    probe.local_vars_configuration = Configuration()
    for py_name, json_name in model.attribute_map.items():
        if json_name not in value and json_name not in ("apiVersion", "kind"):
            try:
                setattr(probe, py_name, None)
            except ValueError:
                errors.append(f"{path}.{json_name}: required by {type_name}, missing")


def main():
    errors = []
    count = 0
    for doc in yaml.safe_load_all(open(sys.argv[1])):
        if not doc:
            continue
        count += 1
        model = model_of(doc.get("apiVersion", ""), doc.get("kind", ""))
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if model is None:
            errors.append(f"{name}: {doc.get('apiVersion')} {doc.get('kind')} is not a kind of this API")
            continue
        check(doc, model.__name__, name, errors)
    for e in errors:
        print(e)
    if errors:
        sys.exit(1)
    print(f"{count} objects match the Kubernetes API's types")


if __name__ == "__main__":
    main()
