"""`nautilus gitops` without a cluster: the deploy identity's Role keeps step with the kinds the overlays
render, grants nothing on Secrets, no delete on claims, nothing cluster-wide; bad input is one line, exit 2."""
import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from generator.deploy.identity import manifests, role_rules
from generator.deploy.settings import settings
from kube_support import REPO, build, example_folders

COMPONENT_VARIANTS = {  # every base component, as `nautilus new` writes it
    "cpu": ["--gpus", "0"], "multi": ["--nodes", "2", "--gpus", "2"], "sweep": ["--gpus", "1", "--sweep", "train.lr=1e-4,2e-4"],
    "gated": ["--gpu-resource", "nvidia.com/a100", "--gpu-quota", "A100 form"],
}


def rendered_kinds(tmp_path: Path) -> set[str]:
    nautilus = Path(sys.executable).with_name("nautilus")
    folders = [p for p in example_folders() if "." not in p.name]
    for name, args in COMPONENT_VARIANTS.items():
        subprocess.run([str(nautilus), "new", name, "--namespace", "ns", *args, "--output-dir", str(tmp_path)], check=True,
                       capture_output=True)
        folders.append(tmp_path / name)
    return {doc["kind"] for folder in folders for doc in build(folder)}


def test_the_role_covers_exactly_the_kinds_the_project_overlays_render(tmp_path):
    assert rendered_kinds(tmp_path) == set(settings()["kinds"])
    granted = {(rule["apiGroups"][0], resource) for rule in role_rules() for resource in rule["resources"]}
    for spec in settings()["kinds"].values():
        assert (spec["group"], spec["resource"]) in granted


def test_the_role_never_reads_secrets_deletes_claims_or_reaches_outside_the_namespace():
    objects = manifests("ns")
    assert objects["role.yaml"]["kind"] == "Role" and objects["rolebinding.yaml"]["roleRef"]["kind"] == "Role"
    for rule in role_rules():
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"]
        if "persistentvolumeclaims" in rule["resources"]:
            assert "delete" not in rule["verbs"] and "deletecollection" not in rule["verbs"]
        if rule["resources"] in (["pods", "pods/log"], ["events"]):
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
    token = objects["token.yaml"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": settings()["identity"]["name"]}


def test_identity_writes_the_files_and_prints_the_steps(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "base").mkdir(), (tmp_path / "overlays").mkdir()
    nautilus = Path(sys.executable).with_name("nautilus")
    proc = subprocess.run([str(nautilus), "gitops", "identity", "--namespace", "lab"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / settings()["identity"]["folder"]
    kustomization = YAML(typ="safe").load((folder / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(manifests("lab"))
    assert f"kubectl apply -k {settings()['identity']['folder']}" in proc.stdout and "main` only" in proc.stdout
    assert "NAUTILUS_TOKEN" in proc.stdout and "NAUTILUS_CA" in proc.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    nautilus = Path(sys.executable).with_name("nautilus")
    env = {"PATH": "/usr/bin:/bin", **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    missing = subprocess.run([str(nautilus), "gitops", "plan"], cwd=REPO, capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1
    assert "--namespace" in missing.stderr, missing.stderr
    bad = tmp_path / "rendered"
    bad.mkdir()
    (bad / "x.yaml").write_text("a: [")
    proc = subprocess.run([str(nautilus), "gitops", "plan", "-n", "ns", "--rendered", str(bad)], cwd=REPO,
                          capture_output=True, text=True, env={**env, "KUBECONFIG": str(tmp_path / "none")})
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "overlays/x" in proc.stderr, proc.stderr  # the artifact's YAML is refused before any kubectl call
