"""Small hand-written objects of a project overlay, as generator/deploy sees them once rendered: labelled with
their overlay (gitops.yaml's overlay_label), in one namespace. Shared by the plan, apply and record tests."""
from generator.deploy.settings import settings

LABEL = settings()["overlay_label"]
REPLACE = {settings()["on_new_run_annotation"]: "replace"}
HOLD = "nautilus.io/test-hold"  # a finalizer nobody removes but the test: the object stays while deleted


def meta(namespace: str, name: str, overlay: str | None, labels: dict | None = None, annotations: dict | None = None,
         held: bool = False) -> dict:
    found = {"name": name, "namespace": namespace, "labels": {**({LABEL: overlay} if overlay else {}), **(labels or {})}}
    if annotations:
        found["annotations"] = annotations
    if held:
        found["finalizers"] = [HOLD]
    return found


def config(namespace: str, name: str, overlay: str | None = "cells", data: dict | None = None, held: bool = False,
           **extra) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(namespace, name, overlay, held=held),
            "data": data or {"train.yaml": "epochs: 1\n"}, **extra}


def job(namespace: str, name: str, overlay: str = "cells", stage: str = "train", image: str = "busybox:1.36",
        completions: int = 1, annotations: dict | None = None, held: bool = False) -> dict:
    """A suspended Job of a stage: no pod ever starts; a test writes its status as the job controller would."""
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": meta(namespace, name, overlay, {"nautilus.io/stage": stage}, annotations, held),
            "spec": {"suspend": True, "completions": completions, "backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}}}}


def claim(namespace: str, name: str, overlay: str = "cells") -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(namespace, name, overlay),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def service(namespace: str, name: str, overlay: str = "cells") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(namespace, name, overlay),
            "spec": {"ports": [{"port": 80}]}}
