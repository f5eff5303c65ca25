"""Coded rules on where and how long pods run: GPU gates, priority, taints, nodes, runtime, sleeping."""
from generator.core.gpus import fitting_products, gpu_resources, offering, unknown_product
from generator.core.schemas import annotation, policy
from generator.policy.registry import coded
from generator.policy.sleep import verdict
from generator.policy.workload import dig, resources, Workload


def _acknowledged(w: Workload, name: str) -> bool:
    return bool(str(w.annotations.get(annotation(name)) or "").strip())


@coded("gpu-gated")
def gpu_gated(w: Workload, _):
    gated = {name for name, info in policy()["gpu"]["special_resources"].items() if info.get("gated")}
    opportunistic = w.pod.get("priorityClassName") in policy()["priority_classes"]["opportunistic"]
    if opportunistic or _acknowledged(w, "gpu_quota"):
        return
    for container in w.containers():
        for name in sorted(gated & (set(resources(container, "requests")) | set(resources(container, "limits")))):
            quota = policy()["gpu"]["special_resources"][name]["quota"]
            yield f"container {container.get('name')} asks for gated {name} ({quota})"


@coded("priority-class")
def priority_class(w: Workload, _):
    name = w.pod.get("priorityClassName")
    allowed = policy()["priority_classes"]["allowed"]
    if name is not None and name not in allowed:
        yield f"priorityClassName {name} is not one of {', '.join(allowed)}"


@coded("toleration-forbidden")
def toleration_forbidden(w: Workload, _):
    forbidden = policy()["taints"]["forbidden"]
    for toleration in w.pod.get("tolerations") or []:
        key = toleration.get("key")
        if key in forbidden:
            yield f"tolerates {key}"
        elif not key and toleration.get("operator") == "Exists":
            yield "tolerates every taint (operator Exists without a key)"


@coded("toleration-reservation")
def toleration_reservation(w: Workload, _):
    for toleration in w.pod.get("tolerations") or []:
        if toleration.get("key") in policy()["taints"]["approval_needed"] and not _acknowledged(w, "reservation"):
            yield f"tolerates {toleration['key']} without {annotation('reservation')}"


def _keeps_off_gpu_nodes(pod: dict) -> bool:
    label = policy()["gpu"]["gpu_node_label"]
    for term in _node_terms(pod):
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == label and (
                    expression.get("operator") == "DoesNotExist"
                    or (expression.get("operator") == "NotIn" and "true" in (expression.get("values") or []))):
                return True
    return dig(pod, "nodeSelector", label) == "false"


@coded("cpu-off-gpu-nodes")
def cpu_off_gpu_nodes(w: Workload, _):
    if not w.gpus() and not _keeps_off_gpu_nodes(w.pod):
        yield "asks for no GPU but may land on a GPU node"


def _node_terms(pod: dict, required_only: bool = False) -> list[dict]:
    """Every node selector term of the pod's node affinity, required and (unless required_only) preferred."""
    affinity = dig(pod, "affinity", "nodeAffinity", default={}) or {}
    terms = list(dig(affinity, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", default=[]) or [])
    if required_only:
        return terms
    return terms + [p.get("preference", {}) for p in affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []]


def _products(pod: dict, required_only: bool = False) -> set[str]:
    """The GPU products the pod's node selector and node affinity ask for (In), all terms together."""
    label = policy()["gpu"]["product_label"]
    wanted = {dig(pod, "nodeSelector", label)} if dig(pod, "nodeSelector", label) else set()
    for term in _node_terms(pod, required_only):
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == label and expression.get("operator") == "In":
                wanted |= set(expression.get("values") or [])
    return wanted


def _unknown_products(products: set[str]):
    label, known = policy()["gpu"]["product_label"], set(policy()["gpu"]["products"])
    for product in sorted(products - known):
        what, hint = unknown_product(product)
        yield f"selects {label}={product}: {what} ({hint})"


@coded("gpu-product")
def gpu_product(w: Workload, _):
    yield from _unknown_products(_products(w.pod, required_only=True))


@coded("gpu-product-preferred")
def gpu_product_preferred(w: Workload, _):
    yield from _unknown_products(_products(w.pod) - _products(w.pod, required_only=True))


def _gpu_names(container: dict) -> set[str]:
    return {n for side in ("requests", "limits") for n in resources(container, side) if n in gpu_resources()}


@coded("gpu-resource")
def gpu_resource(w: Workload, _):
    """A pod that requires products offered only under another resource name than it asks for never schedules."""
    gpu, required = policy()["gpu"], _products(w.pod, required_only=True)
    for container in w.containers():
        for name in sorted(_gpu_names(container)) if required else []:
            if not fitting_products(gpu, name, required):
                yield (f"container {container.get('name')} asks for {name}, but the {', '.join(sorted(required))} "
                       f"it requires are offered as {', '.join(offering(gpu, required))}")


@coded("gpu-affinity")
def gpu_affinity(w: Workload, _):
    labels = policy()["gpu"]["choice_labels"]
    if w.gpus() == 0 or set().union(*map(_gpu_names, w.containers())) - {policy()["gpu"]["resource"]}:
        return  # no GPU, or a resource name that is itself a GPU model
    chosen = any(dig(w.pod, "nodeSelector", label) for label in labels) or any(
        expression.get("key") in labels for term in _node_terms(w.pod) for expression in term.get("matchExpressions") or [])
    if not chosen:
        yield f"asks for {w.gpus()} GPU(s) of any model (no {' or '.join(labels)} node affinity)"


def _deadline(w: Workload):
    return w.pod.get("activeDeadlineSeconds")


@coded("pod-runtime")
def pod_runtime(w: Workload, _):
    cap = policy()["workloads"]["interactive_pod"]["max_runtime_seconds"]
    deadline = _deadline(w)
    if deadline is None:
        yield f"has no activeDeadlineSeconds (NRP destroys bare pods after {cap} s)"
    elif deadline > cap:
        yield f"activeDeadlineSeconds {deadline} is over {cap}"


def _verdicts(w: Workload):
    for container in w.containers():
        yield container.get("name"), verdict(list(container.get("command") or []) + list(container.get("args") or []))


@coded("sleep-forever")
def sleep_forever(w: Workload, _):
    for name, found in _verdicts(w):
        if found.idle:
            yield f"container {name}: {found.idle}"


@coded("pod-sleep")
def pod_sleep(w: Workload, _):
    cap = policy()["workloads"]["interactive_pod"]["max_runtime_seconds"]
    deadline = _deadline(w)
    if deadline is not None and deadline <= cap:  # NRP's bound, written down: sleeping is allowed
        return
    for name, found in _verdicts(w):
        if found.idle:
            yield f"container {name}: {found.idle}; NRP deletes a bare pod after {cap} s"


@coded("shell-script")
def shell_script(w: Workload, _):
    for name, found in _verdicts(w):
        if found.unchecked:
            yield f"container {name}: {found.unchecked}"
