"""Writes standalone Kubernetes JSON schemas for kubeconform from kubernetes-validate's.

kubernetes-validate ships, per Kubernetes version, one schema per kind whose $refs
point into a shared /api/_definitions.json. kubeconform reads one file per kind
and cannot resolve that path, so each kind's schema is written with the
definitions it reaches copied into its own definitions (draft 4, which kubeconform reads), at
<out>/v<version>-standalone-strict/<kind>-<group>-<version>.json: kubeconform's
layout, for `-schema-location '<out>/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'`.

Usage: python standalone-schemas.py <kubernetes version, e.g. 1.33.0> <out dir>
"""

import json
import sys
from pathlib import Path

import kubernetes_validate

# A kind's schema refers into the shared file; definitions refer to each other within it.
PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")


def main() -> None:
    version, out = sys.argv[1], Path(sys.argv[2])
    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not source.is_dir():
        sys.exit(f"standalone-schemas: kubernetes-validate has no schemas for {version} ({source})")
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    target = out / f"v{version}-standalone-strict"
    target.mkdir(parents=True)
    written = 0
    for path in sorted(source.glob("*.json")):
        if path.name.startswith("_") or path.name == "all.json":
            continue
        schema = json.loads(path.read_text())
        reached: dict[str, object] = {}
        rewritten = localise(schema, definitions, reached)
        rewritten["definitions"] = reached
        (target / path.name).write_text(json.dumps(rewritten))
        written += 1
    print(f"standalone-schemas: {written} schemas in {target}")


def localise(node: object, definitions: dict, reached: dict) -> object:
    """Copies node with each $ref made local, adding what it reaches to `reached`."""
    if isinstance(node, list):
        return [localise(item, definitions, reached) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        prefix = next((p for p in PREFIXES if isinstance(value, str) and value.startswith(p)), None)
        if key == "$ref" and prefix is not None:
            name = value[len(prefix):]
            if name not in reached:
                reached[name] = {}  # placeholder first: definitions may recurse
                reached[name] = localise(definitions[name], definitions, reached)
            result[key] = "#/definitions/" + name
        else:
            result[key] = localise(value, definitions, reached)
    return result


if __name__ == "__main__":
    main()
