"""An overlay as the cluster sees it: rendered objects, the namespace they go to, apply and delete with
`kubectl -k` exactly as a user runs it, and the pods its Jobs start."""
import json
import os
from pathlib import Path

from generator.render.kustomize import load_documents, render
from kube_support import example_folders

from .controlplane import ControlPlane, wait_until
from .workloads import pods, provide_volumes



# Overlays as `nautilus new` writes them. "generated": a user who accepts either of two products;
# NVIDIA-A10 is also the product of the simulated system node, which the pods must still avoid.
# "generated-a100": a GPU with a resource name of its own (component gpu-resource), held by one node.
GENERATED = {
    "generated": ["--namespace", "nautilus-generated", "--gpus", "2", "--gpu-product", "NVIDIA-A10",
                  "--gpu-product", "NVIDIA-L40"],
    "generated-a100": ["--namespace", "nautilus-generated", "--gpus", "4", "--gpu-resource", "nvidia.com/a100",
                       "--gpu-quota", "A100 quota granted through NRP's form (test)"],
}


def committed() -> list[Path]:
    """The example overlays (overlays/examples.yaml, or rebuilt where a fork removed them); users' own overlays
    are not the template's tests."""
    return example_folders()


class Overlay:
    def __init__(self, cluster: ControlPlane, path: Path, default_namespace: str):
        self.cluster, self.path = cluster, Path(path)
        self.objects = load_documents(render(self.path), str(self.path))
        namespaces = {o["metadata"].get("namespace") for o in self.objects} - {None}
        assert len(namespaces) <= 1, f"{self.path} spreads over namespaces {namespaces}"
        self.namespace = namespaces.pop() if namespaces else default_namespace
        self.volumes: list[str] = []

    def kubectl(self, *args: str, check: bool = True):
        return self.cluster.kubectl(*args, "-k", str(self.path), "-n", self.namespace, check=check)

    def jobs(self, stage: str | None = None) -> list[dict]:
        return [o for o in self.objects if o["kind"] == "Job"
                and (stage is None or o["metadata"].get("labels", {}).get("nautilus.io/stage") == stage)]

    def prepare(self) -> None:
        """The namespace (Pod Security "restricted", as NRP users' pods must pass) and pre-made volumes."""
        if self.cluster.kubectl("get", "namespace", self.namespace, check=False).returncode != 0:
            self.cluster.kubectl("create", "namespace", self.namespace)
            self.cluster.kubectl("label", "namespace", self.namespace, "pod-security.kubernetes.io/enforce=restricted")
        self.volumes = provide_volumes(self.cluster, self.namespace, self.objects)

    def apply(self) -> str:
        return self.kubectl("apply").stdout

    def live(self) -> list[dict]:
        """The overlay's objects as they are in the cluster now (kubectl get -k)."""
        out = self.kubectl("get", "-o", "json", "--ignore-not-found").stdout
        data = json.loads(out) if out.strip() else {"kind": "List", "items": []}
        return data["items"] if data.get("kind") == "List" else [data]

    def pods(self, stage: str) -> list[dict]:
        """Pods of this overlay's Jobs of one stage."""
        names = ",".join(j["metadata"]["name"] for j in self.jobs(stage))
        return names and pods(self.cluster, self.namespace, f"batch.kubernetes.io/job-name in ({names})")

    def delete(self) -> None:
        """`kubectl delete -k`, then wait until the Jobs' pods are gone too; release the volumes."""
        self.kubectl("delete", "--ignore-not-found", "--wait=true")
        if self.jobs():
            wait_until(lambda: not any(self.pods(stage) for stage in self.stages()), 60, f"the pods of {self.path.name} to go")
        for volume in self.volumes:
            self.cluster.kubectl("delete", "persistentvolume", volume, "--ignore-not-found")

    def stages(self) -> set[str]:
        return {j["metadata"]["labels"]["nautilus.io/stage"] for j in self.jobs()}



def derive(folder: Path, overlay: Path, stage: str, patch: dict) -> Path:
    """An overlay of `overlay`, as a user's edit would be: `patch` merged into its Jobs of one stage."""
    folder.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, folder)],
        "patches": [{"target": {"kind": "Job", "labelSelector": f"nautilus.io/stage={stage}"},
                     "patch": json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "any"}, **patch})}],
    }
    (folder / "kustomization.yaml").write_text(json.dumps(kustomization, indent=2))
    return folder
