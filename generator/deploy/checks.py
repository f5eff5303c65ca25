"""What the token may and may not do, asked of the API server (`kubectl auth can-i`): every verb the Role
grants must be allowed, and reading Secrets, deleting claims, and acting in another namespace or
cluster-wide must be refused."""
from concurrent.futures import ThreadPoolExecutor

from .identity import role_rules
from .kube import Kube

OTHER_NAMESPACE = "default"
REFUSED = [("get", "secrets", None), ("list", "secrets", None), ("watch", "secrets", None),
           ("delete", "persistentvolumeclaims", None), ("create", "pods", None), ("create", "roles.rbac.authorization.k8s.io", None),
           ("create", "jobs.batch", OTHER_NAMESPACE), ("get", "configmaps", OTHER_NAMESPACE),
           ("list", "namespaces", None), ("list", "nodes", None)]


def rows(kube: Kube) -> list[tuple[str, str, str, bool, bool]]:
    """(verb, resource, namespace, expected, answered) for every check."""
    wanted = []
    for rule in role_rules():
        group = rule["apiGroups"][0]
        for resource in rule["resources"]:
            wanted += [(verb, f"{resource}.{group}" if group else resource, None, True) for verb in rule["verbs"]]
    wanted += [(verb, resource, namespace, False) for verb, resource, namespace in REFUSED]
    asked = [(verb, resource, namespace or kube.namespace, expected) for verb, resource, namespace, expected in wanted
             if namespace != kube.namespace]
    with ThreadPoolExecutor(max_workers=8) as pool:  # one API request each: asked side by side
        answers = list(pool.map(lambda row: kube.can_i(row[0], row[1], row[2]), asked))
    return [(*row[:3], row[3], answer) for row, answer in zip(asked, answers)]


def table(found) -> str:
    lines = ["| may | verb | resource | namespace | answer |", "| --- | --- | --- | --- | --- |"]
    for verb, resource, ns, expected, answered in found:
        mark = "ok" if expected == answered else "**wrong**"
        lines.append(f"| {'yes' if expected else 'no'} | {verb} | {resource} | {ns} | {'yes' if answered else 'no'} ({mark}) |")
    return "\n".join(lines)
