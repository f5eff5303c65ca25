"""The namespace's deploy identity, as files in the repository: a ServiceAccount, a Role with only what the
overlays need (gitops.yaml), a RoleBinding, and the long-lived token Secret that the control plane fills."""
import io
import json
from pathlib import Path

from ruamel.yaml import YAML

from . import pipeline
from .settings import settings


def role_rules() -> list[dict]:
    """Apply and prune verbs on the kinds the overlays render (never delete on claims, nothing on Secrets),
    plus the reads `status` needs."""
    verbs, rules = settings()["verbs"], []
    for spec in settings()["kinds"].values():
        allowed = verbs["apply"] + (verbs["prune"] if spec["prune"] else [])
        rules.append({"apiGroups": [spec["group"]], "resources": [spec["resource"]], "verbs": allowed})
    rules += [{"apiGroups": [r["group"]], "resources": r["resources"], "verbs": r["verbs"]} for r in settings()["read_only"]]
    return rules


def manifests(namespace: str) -> dict[str, dict]:
    name = settings()["identity"]["name"]
    meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "nautilus-ml-template",
                                                           "app.kubernetes.io/component": "deploy-identity"}}
    return {
        "serviceaccount.yaml": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
                                "automountServiceAccountToken": False},
        "role.yaml": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": role_rules()},
        "rolebinding.yaml": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        "token.yaml": {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                       "metadata": {**meta, "name": f"{name}-token",
                                    "annotations": {"kubernetes.io/service-account.name": name}}},
    }


def write(root: Path, namespace: str) -> Path:
    """deploy/identity/ with one file per object and a kustomization, each written atomically."""
    folder = root / settings()["identity"]["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    files = manifests(namespace)
    header = ("# The deploy identity of namespace {ns}, written by `nautilus gitops identity --namespace {ns}`.\n"
              "# Apply it once with your own kubectl: kubectl apply -k {folder}\n")
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(files)}
    for file_name, obj in {**files, "kustomization.yaml": kustomization}.items():
        text = io.StringIO()
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.dump(json.loads(json.dumps(obj)), text)
        pipeline.write_text(folder / file_name, header.format(ns=namespace, folder=settings()["identity"]["folder"]) + text.getvalue())
    return folder


def steps(namespace: str) -> str:
    ident = settings()["identity"]
    name, folder, env = ident["name"], ident["folder"], ident["environment"]
    secret, var = ident["secrets"], ident["variables"]
    return f"""Wrote {folder}/ for namespace {namespace}. Set up, once:
  1. Review and commit {folder}/, then apply it with your own kubectl (the workflows never change it):
       kubectl apply -k {folder}
  2. In GitHub: Settings, Environments, New environment `{env}`; Deployment branches: Selected branches, `main` only.
  3. Add to that environment two secrets and two variables (the token and the CA the control plane put in the Secret):
       {secret['token']}:  kubectl get secret {name}-token -n {namespace} -o jsonpath='{{.data.token}}' | base64 -d
       {secret['ca']}:     kubectl get secret {name}-token -n {namespace} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d
       {var['server']} (variable): kubectl config view --minify -o jsonpath='{{.clusters[0].cluster.server}}'
       {var['namespace']} (variable): {namespace}
  4. Check what the token may do: nautilus gitops can-i --namespace {namespace} (with a kubeconfig made from the token).
Turn it off: delete the environment's secrets (the workflows then do nothing and say so), or kubectl delete -k {folder}."""
