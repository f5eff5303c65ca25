"""Coded rules that need arithmetic over resource quantities and sums over containers."""
from fractions import Fraction

from generator.core import quantity
from generator.core.gpus import gpu_resources
from generator.core.schemas import policy
from generator.policy.registry import coded
from generator.policy.workload import mounts, resources, Workload


def _cap(value) -> Fraction:
    return quantity.parse(value)


def _larger(w: Workload, resource: str) -> Fraction:
    return max(w.total(resource, "requests"), w.total(resource, "limits"))


@coded("pod-gpu-max")
def pod_gpu_max(w: Workload, _):
    cap = policy()["workloads"]["interactive_pod"]["max_gpus"]
    if w.gpus() > cap:
        yield f"asks for {w.gpus()} GPUs, a bare Pod may have at most {cap}"


@coded("job-gpu-max")
def job_gpu_max(w: Workload, _):
    cap = policy()["workloads"]["job"]["max_gpus_per_pod"]
    if w.gpus() > cap:
        yield f"asks for {w.gpus()} GPUs per pod, a node has at most {cap}"


@coded("job-gpus-at-once")
def job_gpus_at_once(w: Workload, _):
    cap = policy()["utilisation"]["max_pods_outside"]
    pods = w.pods_at_once()
    if w.gpus() and pods > cap:
        yield f"runs {pods} pods x {w.gpus()} GPUs = {pods * w.gpus()} GPUs at once, more than {cap} GPU pods"


@coded("deployment-gpu")
def deployment_gpu(w: Workload, _):
    cap = policy()["workloads"]["deployment"]["max_gpus"]
    if w.gpus() > cap:
        yield f"asks for {w.gpus()} GPUs, a {w.kind} may have at most {cap}"


@coded("pod-memory-max")
def pod_memory_max(w: Workload, _):
    cap = policy()["workloads"]["interactive_pod"]["max_memory"]
    if _larger(w, "memory") > _cap(cap):
        yield f"holds {quantity.format_bytes(_larger(w, 'memory'))} of memory, a bare Pod may have at most {cap}"


@coded("pod-cpu-max")
def pod_cpu_max(w: Workload, _):
    cap = policy()["workloads"]["interactive_pod"]["max_cpu"]
    if _larger(w, "cpu") > _cap(cap):
        yield f"holds {quantity.format_cpu(_larger(w, 'cpu'))} CPU, a bare Pod may have at most {cap}"


def _ratio() -> Fraction:
    return Fraction(str(policy()["requests"]["limit_ratio_max"]))


@coded("limit-ratio")
def limit_ratio(container: dict, _):
    ratio = _ratio()
    requests, limits = resources(container, "requests"), resources(container, "limits")
    for resource in ("cpu", "memory", "ephemeral-storage"):
        request, limit = requests.get(resource), limits.get(resource)
        if request is None and limit is None and resource == "ephemeral-storage":
            continue
        if request is None or limit is None:
            missing = "request" if request is None else "limit"
            yield f"{resource} has no {missing}"
        elif _cap(limit) > ratio * _cap(request):
            shown = float(_cap(limit) / _cap(request)) if _cap(request) else float("inf")
            yield f"{resource} limit {limit} is {shown:.2f} x its request {request}, more than {float(ratio)} x"


@coded("gpu-request-limit")
def gpu_request_limit(container: dict, _):
    requests, limits = resources(container, "requests"), resources(container, "limits")
    for name in sorted(gpu_resources() & (set(requests) | set(limits))):
        request, limit = requests.get(name), limits.get(name)
        if request is not None and limit is not None and _cap(request) != _cap(limit):
            yield f"{name} request {request} differs from its limit {limit}"
        for value in (request, limit):
            if value is not None and _cap(value).denominator != 1:
                yield f"{name} {value} is not a whole number of GPUs"


def _empty_dirs(w: Workload, memory: bool):
    for volume in w.pod.get("volumes") or []:
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, dict) and (empty_dir.get("medium") == "Memory") == memory:
            yield volume["name"], empty_dir


@coded("shm-size-limit")
def shm_size_limit(w: Workload, _):
    for name, empty_dir in _empty_dirs(w, memory=True):
        size = empty_dir.get("sizeLimit")
        if size is None:
            yield f"memory emptyDir {name} has no sizeLimit"
            continue
        if not quantity.is_quantity(size):
            continue  # the quantity rule reports it
        for container in mounts(w.pod, name):
            limit = resources(container, "limits").get("memory")
            if limit is None or _cap(size) >= _cap(limit):
                yield (f"memory emptyDir {name} ({size}) is not inside the memory limit ({limit or 'none'}) "
                       f"of container {container.get('name')}")


@coded("scratch-request")
def scratch_request(w: Workload, _):
    for name, _dir in _empty_dirs(w, memory=False):
        for container in mounts(w.pod, name):
            if "ephemeral-storage" not in resources(container, "requests"):
                yield f"container {container.get('name')} mounts emptyDir {name} without an ephemeral-storage request"


@coded("scratch-max")
def scratch_max(w: Workload, _):
    """Scratch over the cap is fine when requested (NRP asks for exactly that); flag a sizeLimit far above
    what the containers writing it request. No request at all is scratch-request's finding."""
    cap, ratio = _cap(policy()["scratch"]["max_ephemeral_storage"]), _ratio()
    for name, empty_dir in _empty_dirs(w, memory=False):
        size = empty_dir.get("sizeLimit")
        writers = [c for c in mounts(w.pod, name) if "ephemeral-storage" in resources(c, "requests")]
        if size is None or not quantity.is_quantity(size) or _cap(size) <= cap or not writers:
            continue
        requested = sum((_cap(resources(c, "requests")["ephemeral-storage"]) for c in writers), Fraction(0))
        if _cap(size) > ratio * requested:
            yield (f"emptyDir {name} sizeLimit {size} is over {policy()['scratch']['max_ephemeral_storage']} and more "
                   f"than {float(ratio)} x the {quantity.format_bytes(requested)} of ephemeral storage requested for it")


@coded("limit-equals-request")
def limit_equals_request(w: Workload, _):
    many = policy()["requests"]["many_pods"]
    pods = w.pods_at_once()
    if pods <= many:
        return
    for container in w.containers():
        requests, limits = resources(container, "requests"), resources(container, "limits")
        for resource in ("cpu", "memory", "ephemeral-storage"):
            request, limit = requests.get(resource), limits.get(resource)
            if request is not None and limit is not None and _cap(request) != _cap(limit):
                yield (f"{pods} pods at once: container {container.get('name')} {resource} limit {limit} "
                       f"differs from its request {request}")


def _overcommitable(name: str) -> bool:
    """The API server's IsOvercommitAllowed: a native resource (no domain, or a kubernetes.io one) that is not
    hugepages. The others (extended resources such as nvidia.com/gpu, hugepages-*) need request == limit."""
    native = "/" not in name or "kubernetes.io/" in name
    return native and not name.startswith("hugepages-")


def _pairs(container: dict):
    """(resource, request, limit) for each resource the container names, either side may be None."""
    requests, limits = resources(container, "requests"), resources(container, "limits")
    for name in sorted(set(requests) | set(limits), key=str):
        yield str(name), requests.get(name), limits.get(name)


@coded("request-above-limit")
def request_above_limit(container: dict, _):
    for name, request, limit in _pairs(container):
        if request is None or limit is None or name in gpu_resources():  # GPUs: gpu-request-limit says it
            continue
        if _cap(request) > _cap(limit):
            yield f"{name} request {request} is above its limit {limit}"


@coded("request-equals-limit")
def request_equals_limit(container: dict, _):
    for name, request, limit in _pairs(container):
        if _overcommitable(name) or request is None:
            continue
        if limit is None:
            yield f"{name} has a request ({request}) but no limit"
        elif name not in gpu_resources() and _cap(request) < _cap(limit):  # above: request-above-limit
            yield f"{name} request {request} is below its limit {limit}"


@coded("hugepages-cpu-memory")
def hugepages_cpu_memory(container: dict, _):
    names = {name for name, _request, _limit in _pairs(container)}
    huge = sorted(n for n in names if n.startswith("hugepages-"))
    if huge and not names & {"cpu", "memory"}:
        yield f"asks for {', '.join(huge)} without a cpu or memory request or limit"
