"""What the API server refuses, validate refuses: a differential test with the real API server as the oracle.

Small mutations (tests/cluster/mutations.py) of the example overlays' (and of two that `nautilus new` writes) rendered Jobs, Pods, claims and ConfigMaps,
drawn from a fixed seed, are sent to the local control plane with a server-side dry run and to one `nautilus
validate` run. A variant the server refuses and validate passes fails the test. A variant validate refuses and the
server accepts is NRP policy: printed under its rule ids, each of which must be a rule of schemas/rules.yaml.
"""
import copy
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

from ruamel.yaml import YAML

from generator.core.schemas import rules
from generator.render.kustomize import load_documents, render

from .mutations import MUTATIONS
from .overlays import committed

SEED = int(os.environ.get("DIFFERENTIAL_SEED", "20261207"))      # another seed, more variants: a wider search
VARIANTS = int(os.environ.get("DIFFERENTIAL_VARIANTS", "600"))
KINDS = ("Job", "Pod", "PersistentVolumeClaim", "ConfigMap")


@cache
def originals(generated: tuple[Path, ...]) -> list[dict]:
    """The rendered objects of the kinds users edit, from the committed examples and the overlays `nautilus new`
    writes here (conftest.GENERATED; a fork may have removed the examples)."""
    objects = []
    for folder in [*committed(), *generated]:
        for obj in load_documents(render(folder), str(folder)):
            if obj["kind"] in KINDS:
                obj["metadata"].pop("namespace", None)
                objects.append(obj)
    return objects


def variants(generated: dict[str, Path], seed: int = SEED, count: int = VARIANTS) -> list[tuple[str, dict]]:
    """count (label, object) pairs, each one mutation of one original; the same seed gives the same list."""
    rng, objects, out = random.Random(seed), originals(tuple(generated[name] for name in sorted(generated))), []
    while len(out) < count:
        obj, mutation = copy.deepcopy(rng.choice(objects)), rng.choice(MUTATIONS)
        label = mutation(obj, rng)
        if label:
            out.append((f"{obj['kind']}/{label}", obj))
    return out


def write(folder: Path, items: list[tuple[str, dict]], namespace: str) -> list[Path]:
    """One file per variant, in the test's namespace (Pod Security "restricted", as on NRP)."""
    yaml, files = YAML(typ="safe"), []
    yaml.width = 4096
    for number, (_, obj) in enumerate(items):
        obj["metadata"]["namespace"] = namespace
        path = folder / f"v{number:04d}.yaml"
        with path.open("w") as stream:
            yaml.dump(obj, stream)
        files.append(path)
    return files


def server_refusals(cluster, folder: Path, namespace: str) -> dict[str, str]:
    """file stem -> the server's message, for every variant the dry run refused (one kubectl run, all files)."""
    proc = cluster.kubectl("create", "--dry-run=server", "-n", namespace, "-o", "name", "-f", str(folder), check=False)
    refused = {}
    for line in proc.stderr.splitlines():
        found = re.search(r'"[^"]*/(v\d{4})\.yaml"', line)
        if found:
            refused[found.group(1)] = line
    assert proc.returncode == 0 or refused, proc.stderr[-2000:]
    accepted = len(proc.stdout.split())
    assert accepted + len(refused) == len(list(folder.glob("v*.yaml"))), (accepted, len(refused), proc.stderr[-2000:])
    return refused


def validate_errors(files: list[Path]) -> dict[str, set[str]]:
    """file stem -> the rule ids of validate's error findings (one validate run over every file)."""
    nautilus = Path(sys.executable).with_name("nautilus")
    proc = subprocess.run([str(nautilus), "validate", "--format", "json", *map(str, files)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    errors = defaultdict(set)
    for finding in json.loads(proc.stdout)["findings"]:
        if finding["severity"] == "error":
            errors[Path(finding["source"]).stem].add(finding["rule"])
    return errors


def test_validate_refuses_what_the_api_server_refuses(cluster, namespace, tmp_path, generated_overlays):
    items = variants(generated_overlays)
    files = write(tmp_path, items, namespace)
    refused = server_refusals(cluster, tmp_path, namespace)
    errors = validate_errors(files)
    missed, policy = [], defaultdict(list)
    for path, (label, _) in zip(files, items):
        stem = path.stem
        if stem in refused and not errors.get(stem):
            missed.append(f"{stem} {label}\n    server: {refused[stem][-300:]}")
        elif os.environ.get("DIFFERENTIAL_VERBOSE") and stem in refused:
            print(f"both {stem} {label} {sorted(errors[stem])}: {refused[stem][-200:]}")
        elif errors.get(stem) and stem not in refused:
            for rule in errors[stem]:
                policy[rule].append(f"{stem} {label}")
    print(f"\nvariants {len(items)}, refused by the server {len(refused)}, refused by validate {len(errors)}, "
          f"server refuses and validate passes {len(missed)}, validate refuses and the server accepts "
          f"{len({s for v in policy.values() for s in v})}")
    print("by category:", dict(sorted(Counter(label.split(':')[0] for label, _ in items).items())))
    for rule, cases in sorted(policy.items()):
        print(f"NRP policy {rule}: {len(cases)} variant(s), e.g. {cases[0]}")
        if os.environ.get("DIFFERENTIAL_VERBOSE"):
            print("    " + "\n    ".join(cases))
    known = set(rules())
    assert set(policy) <= known, f"rules not in schemas/rules.yaml: {set(policy) - known}"
    assert not missed, f"{len(missed)} variant(s) the API server refuses pass validate:\n" + "\n".join(missed)


def test_the_variants_are_deterministic_and_varied(generated_overlays):
    first, again = variants(generated_overlays, count=60), variants(generated_overlays, count=60)
    assert [label for label, _ in first] == [label for label, _ in again]
    categories = {label.split(":")[0].split("/", 1)[1] for label, _ in variants(generated_overlays)}
    assert categories >= {"amounts", "GPUs", "names", "labels", "volumes", "probes", "env", "ports", "Job fields"}, categories
