"""The overlay folders of a checked project (options.py): NAME/, NAME.results/ and the opt-in NAME.dev/,
filled from the templates beside this module."""
import os
from fractions import Fraction
from pathlib import Path

from generator.core import repo, yamlio
from generator.scaffold import sweep
from generator.scaffold.options import limits, Project, split_image, starting_config, TEMPLATES


def container_resources(p: Project, ratio: Fraction, gpus: int) -> dict:
    requests = {"cpu": p.cpu, "memory": p.memory, "ephemeral-storage": p.scratch}
    result = {
        "requests": {key: yamlio.text(value) for key, value in requests.items()},
        "limits": {key: yamlio.text(limits(value, ratio, "cpu" if key == "cpu" else "bytes"))
                   for key, value in requests.items()},
    }
    if gpus:
        for side in result.values():
            side[p.gpu_resource] = yamlio.text(str(gpus))  # a string, as the API server returns it: re-apply is a no-op
    return result


def bases(overlays: Path) -> Path:
    """The bases of the overlays in overlays/: base/ beside that folder, else the bases of the repository you are in."""
    beside = overlays.resolve().parent / "base"
    return beside if beside.is_dir() else repo.base()


def relative_bases(overlays: Path, name: str) -> Path:
    """The bases as seen from overlays/<name>."""
    return Path(os.path.relpath(bases(overlays), overlays.resolve() / name))


def kustomization(p: Project, policy: dict, base: Path, gpu_patch: bool):
    """The overlay's kustomization.yaml: the bases, the components and patches this project needs, its image."""
    kustomization = yamlio.load(TEMPLATES / "overlay/kustomization.yaml")
    kustomization["namespace"] = p.namespace
    kustomization["namePrefix"] = f"{p.name}-"
    kustomization["labels"][0]["pairs"]["app.kubernetes.io/instance"] = p.name
    for index, path in enumerate(kustomization["resources"]):
        kustomization["resources"][index] = path.replace("BASE", str(base))
    components = [name for name, wanted in (("cpu-only", not p.gpus), ("multinode", p.nodes > 1),
                                             ("gpu-resource", p.gpus and p.gpu_resource != policy["gpu"]["resource"]),
                                             ("sweep", bool(p.sweep)))
                  if wanted]
    kustomization["components"] = [str(base / "components" / name) for name in components]
    name, tag, digest = split_image(p.image)
    kustomization["images"][0]["newName"] = name
    if tag:  # with a digest too, kustomize writes name:tag@digest: the tag stays readable
        kustomization["images"][0]["newTag"] = tag
    else:
        del kustomization["images"][0]["newTag"]
    if digest:
        kustomization["images"][0]["digest"] = digest
    wanted_patches = {"resources.yaml": True, "storage.yaml": True, "gpu.yaml": gpu_patch, "nodes.yaml": p.nodes > 1,
                      "pull-secret.yaml": bool(p.image_pull_secret), "sweep-job.yaml": bool(p.sweep)}
    kustomization["patches"] = [entry for entry in kustomization["patches"] if wanted_patches[entry["path"]]]
    if not components:
        del kustomization["components"]
    job_files = [entry["path"] for entry in kustomization["patches"] if entry["path"] != "storage.yaml"]
    data_files = kustomization["configMapGenerator"][0]["files"]
    data_files += [name for name in job_files if name == "pull-secret.yaml"]  # the patches that reach the data Job
    train_files = kustomization["configMapGenerator"][1]["files"]
    train_files += (["sweep.yaml"] if p.sweep else []) + job_files
    if p.nodes > 1:
        kustomization["replacements"] = yamlio.load(TEMPLATES / "multinode-replacements.yaml")
    return kustomization


def overlay(p: Project, policy: dict, folder: Path, overlays: Path) -> None:
    """Write the project's overlay files into folder (staged for overlays/NAME): the kustomization, then one
    patch file per concern."""
    base = relative_bases(overlays, p.name)
    ratio = Fraction(str(policy["requests"]["generator_limit_ratio"]))
    gpu_patch = bool(p.gpu_products or p.priority_class or (p.gpus and p.gpu_quota))
    yamlio.dump(kustomization(p, policy, base, gpu_patch), folder / "kustomization.yaml")

    resources = yamlio.load(TEMPLATES / "overlay/resources.yaml")
    spec = resources["spec"]["template"]["spec"]
    spec["containers"][0]["resources"] = container_resources(p, ratio, p.gpus)
    spec["volumes"][0]["emptyDir"]["sizeLimit"] = p.shm
    spec["volumes"][1]["emptyDir"]["sizeLimit"] = p.scratch
    yamlio.dump(resources, folder / "resources.yaml")

    storage = yamlio.load(TEMPLATES / "overlay/storage.yaml")
    modes = policy["storage_classes"][p.storage_class]
    storage["spec"]["storageClassName"] = p.storage_class
    storage["spec"]["accessModes"][0] = "ReadWriteMany" if "ReadWriteMany" in modes else modes[0]
    storage["spec"]["resources"]["requests"]["storage"] = p.storage
    yamlio.dump(storage, folder / "storage.yaml")

    if gpu_patch:
        gpu = yamlio.load(TEMPLATES / "overlay/gpu.yaml")
        _annotate(gpu, p, policy)
        pod = gpu["spec"]["template"]["spec"]
        if p.priority_class:
            pod.insert(0, "priorityClassName", p.priority_class)
        if p.gpu_products:
            pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"][0]["matchExpressions"][0]["values"] = list(p.gpu_products)
        else:
            del pod["affinity"]
        if not pod:
            del gpu["spec"]
        yamlio.dump(gpu, folder / "gpu.yaml")

    if p.nodes > 1:
        nodes = yamlio.load(TEMPLATES / "overlay/nodes.yaml")
        nodes["spec"]["completions"] = p.nodes
        yamlio.dump(nodes, folder / "nodes.yaml")

    if p.image_pull_secret:
        secret = yamlio.load(TEMPLATES / "overlay/pull-secret.yaml")
        secret["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"] = p.image_pull_secret
        yamlio.dump(secret, folder / "pull-secret.yaml")

    yamlio.dump(starting_config(p), folder / "train.yaml")
    if p.sweep:
        sweep.write(folder, sweep.grid(p.sweep), p.parallel or 1, bases(overlays))


def waivers(p: Project, policy: dict) -> dict[str, str]:
    """The waiver annotations a project's pods carry: products newer than policy.yaml, accepted on the command line."""
    unknown = [product for product in p.gpu_products if product not in policy["gpu"]["products"]]
    if not (unknown and p.allow_unknown_product):
        return {}
    return {f"{policy['annotations']['waiver_prefix']}gpu-product":
            f"{', '.join(unknown)}: newer than schemas/policy.yaml's products (nautilus new --allow-unknown-product)"}


def _annotate(patch: dict, p: Project, policy: dict) -> None:
    """A patch's annotations: the quota acknowledgement and the waivers; none at all when there are neither."""
    notes = patch["metadata"]["annotations"]
    notes.clear()
    if p.gpu_quota:
        notes[policy["annotations"]["gpu_quota"]] = p.gpu_quota
    notes.update(waivers(p, policy))
    if not notes:
        del patch["metadata"]["annotations"]


def dev_overlay(p: Project, policy: dict, folder: Path, overlays: Path) -> None:
    """The opt-in dev pod's folder, <name>.dev, next to the project's overlay."""
    kustomization = _pod_overlay(p, overlays, "dev")
    if p.priority_class or p.gpu_quota or p.image_pull_secret or waivers(p, policy):  # as the train Job has them: a Job-to-Pod replacement cannot be optional
        access = yamlio.load(TEMPLATES / "overlay-dev/access.yaml")
        _annotate(access, p, policy)
        if p.priority_class:
            access["spec"]["priorityClassName"] = p.priority_class
        else:
            del access["spec"]["priorityClassName"]
        if p.image_pull_secret:
            access["spec"]["imagePullSecrets"][0]["name"] = p.image_pull_secret
        else:
            del access["spec"]["imagePullSecrets"]
        if not access["spec"]:
            del access["spec"]
        yamlio.dump(access, folder / "access.yaml")
        kustomization["patches"] = [{"path": "access.yaml", "target": {"kind": "Pod", "labelSelector": "nautilus.io/stage=dev"}}]
    yamlio.dump(kustomization, folder / "kustomization.yaml")


def results_overlay(p: Project, folder: Path, overlays: Path) -> None:
    """The CPU-only results pod's folder, <name>.results, next to the project's overlay."""
    kustomization = _pod_overlay(p, overlays, "results")
    if p.image_pull_secret:
        secret = yamlio.load(TEMPLATES / "overlay-results/pull-secret.yaml")
        secret["spec"]["imagePullSecrets"][0]["name"] = p.image_pull_secret
        yamlio.dump(secret, folder / "pull-secret.yaml")
        kustomization["patches"] = [{"path": "pull-secret.yaml",
                                     "target": {"kind": "Pod", "labelSelector": "nautilus.io/stage=results"}}]
    yamlio.dump(kustomization, folder / "kustomization.yaml")


def _pod_overlay(p: Project, overlays: Path, stage: str) -> dict:
    """The kustomization of <name>.<stage>: the project's overlay plus the component of that pod."""
    base = relative_bases(overlays, f"{p.name}.{stage}")
    kustomization = yamlio.load(TEMPLATES / f"overlay-{stage}/kustomization.yaml")
    kustomization["resources"][0] = f"../{p.name}"
    kustomization["components"][0] = str(base / "components" / f"{stage}-pod")
    return kustomization
