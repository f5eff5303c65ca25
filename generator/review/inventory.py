"""What each workload of an overlay asks the cluster for: one row of `nautilus report` per object."""
import re
from dataclasses import dataclass, field
from fractions import Fraction

from generator.core import quantity
from generator.core.gpus import gpu_resources
from generator.core.schemas import policy
from generator.policy.sanitise import sanitised
from generator.policy.sweeps import variants_cell
from generator.policy.workload import dig, resources, workload

COLUMNS = {  # cell key -> column title, in table order
    "stage": "stage", "kind": "kind", "name": "name", "gpus": "GPUs/pod", "gpu_type": "GPU type",
    "cpu": "CPU req/lim", "memory": "memory req/lim", "shm": "/dev/shm", "ephemeral": "ephemeral req/lim",
    "storage": "storage", "pods": "pods at once", "max_runtime": "max runtime", "gpu_hours": "worst-case GPU-h",
    "variants": "sweep variants",
}
OPTIONAL = ("variants",)  # columns a table shows only when one of its rows has a value there


def shown_columns(workloads: list[dict]) -> dict[str, str]:
    """COLUMNS for one table of workloads (each with before/after cells): optional ones only when used."""
    used = {k for w in workloads for side in (w["before"], w["after"]) if side for k, v in side.items() if v not in (None, "-")}
    return {k: title for k, title in COLUMNS.items() if k not in OPTIONAL or k in used}


FORMULA = ("worst-case GPU-hours = GPUs per pod x pods at once (Job parallelism, replicas) x maximum runtime "
           "(activeDeadlineSeconds; a bare Pod without one: NRP's {max} s limit) / 3600. A Job's "
           "activeDeadlineSeconds bounds the whole Job, retries included, so backoffLimit does not multiply it. "
           "Without a deadline the figure is unbounded.")
STAGE_LABEL = "nautilus.io/stage"


@dataclass
class Row:
    cells: dict[str, str]
    gpus: Fraction = Fraction(0)        # at once: per pod x pods
    cpu: Fraction = Fraction(0)         # requests at once
    memory: Fraction = Fraction(0)
    storage: Fraction = Fraction(0)
    gpu_hours: float | None = 0.0       # None: unbounded
    key: tuple = field(default=())


def _pair(container_sum, fmt) -> str:
    request, limit = container_sum("requests"), container_sum("limits")
    return f"{fmt(request) if request else '-'} / {fmt(limit) if limit else '-'}" if request or limit else "-"


def _set_by(w, resource: str) -> str:
    """Said after a figure that an init container sets (it is larger than the containers' sum): not the obvious one."""
    names = {w.set_by_init(resource, side) for side in ("requests", "limits")} - {None}
    return f" (init container {', '.join(sorted(names))})" if names else ""


def _hours(seconds) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _gpu_type(w) -> str:
    names = sorted({k for c in w.containers() for side in ("requests", "limits") for k in resources(c, side)} & gpu_resources())
    label = policy()["gpu"]["product_label"]
    affinity = dig(w.pod, "affinity", "nodeAffinity", default={}) or {}
    terms = list(dig(affinity, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", default=[]) or [])
    terms += [p.get("preference", {}) for p in affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    products = sorted({v for t in terms for e in t.get("matchExpressions") or []
                       if e.get("key") == label and e.get("operator") == "In" for v in e.get("values") or []})
    if dig(w.pod, "nodeSelector", label):
        products.append(w.pod["nodeSelector"][label])
    if not names:
        return "-"
    return ", ".join(names) + (f" ({', '.join(products)})" if products else "")


def _pods_and_runtime(w) -> tuple[int | None, str, int | None]:
    """(pods at once, how that reads, maximum runtime in seconds or None when unbounded)."""
    if w.kind == "Pod":
        cap = policy()["workloads"]["interactive_pod"]["max_runtime_seconds"]
        return 1, "1", min(w.pod.get("activeDeadlineSeconds") or cap, cap)
    if w.kind in ("Job", "CronJob"):
        spec = w.job_spec
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        shown = f"{parallelism}" + (f" of {completions}" if completions not in (None, parallelism) else "")
        if spec.get("completionMode") == "Indexed":
            shown += " indexed"
        return parallelism, shown, spec.get("activeDeadlineSeconds")
    if w.kind == "DaemonSet":
        return None, "one per node", None
    replicas = (w.obj.get("spec") or {}).get("replicas", 1)
    return replicas, str(replicas), None


def _workload_row(obj, w) -> Row:
    def summed(resource):
        return lambda side: w.total(resource, side)
    pods, pods_shown, runtime = _pods_and_runtime(w)
    gpus = w.gpus()
    shm = sum((_amount(v["emptyDir"]["sizeLimit"]) for v in w.pod.get("volumes") or []
               if dig(v, "emptyDir", "medium") == "Memory" and dig(v, "emptyDir", "sizeLimit")), Fraction(0))
    if not gpus:
        gpu_hours = 0.0
    elif pods is None or runtime is None:
        gpu_hours = None
    else:
        gpu_hours = float(gpus * pods * runtime) / 3600
    cells = {
        "gpus": str(gpus), "gpu_type": _gpu_type(w),
        "cpu": _pair(summed("cpu"), quantity.format_cpu) + _set_by(w, "cpu"),
        "memory": _pair(summed("memory"), quantity.format_bytes) + _set_by(w, "memory"),
        "shm": quantity.format_bytes(shm) if shm else "-",
        "ephemeral": _pair(summed("ephemeral-storage"), quantity.format_bytes) + _set_by(w, "ephemeral-storage"),
        "storage": "-", "pods": pods_shown,
        "max_runtime": _hours(runtime) if runtime else "unbounded",
        "gpu_hours": "unbounded" if gpu_hours is None else f"{gpu_hours:g}", "variants": "-",
    }
    at_once = pods or 1
    return Row(cells, gpus * at_once, w.total("cpu") * at_once, w.total("memory") * at_once, Fraction(0), gpu_hours)


def _claim_row(obj) -> Row:
    spec = obj.get("spec") or {}
    size = dig(spec, "resources", "requests", "storage")
    modes = ", ".join(spec.get("accessModes") or [])
    shown = " ".join(str(p) for p in (size, spec.get("storageClassName")) if p) + (f" ({modes})" if modes else "")
    cells = {k: "-" for k in COLUMNS if k not in ("stage", "kind", "name")}
    cells.update(storage=shown or "-", gpus="0", gpu_hours="0")
    return Row(cells, storage=_amount(size) if size else Fraction(0))


def _amount(value) -> Fraction:
    """A size as a number; nothing for one that is not a quantity (the `quantity` rule reports it)."""
    return quantity.parse(value) if quantity.is_quantity(value) else Fraction(0)


def rows(source) -> list[Row]:
    """One row per workload and per PersistentVolumeClaim of a source, in document order, each object read
    as the rules read it (malformed values left out: validate reports them)."""
    found = []
    for obj, _ in (sanitised(o, str(policy()["kubernetes_version"])) for o in source.docs):
        w = workload(obj)
        if w is None and obj.get("kind") != "PersistentVolumeClaim":
            continue
        row = _workload_row(obj, w) if w else _claim_row(obj)
        if obj.get("kind") == "Job":
            row.cells["variants"] = variants_cell(obj, source.docs)
        name = dig(obj, "metadata", "name", default="")
        row.cells = {"stage": dig(obj, "metadata", "labels", STAGE_LABEL, default="-"), "kind": obj["kind"],
                     "name": name, **row.cells}
        row.key = (obj["kind"], run_name(obj, w) if w else name)
        found.append(row)
    return found


def formula() -> str:
    return FORMULA.format(max=policy()["workloads"]["interactive_pod"]["max_runtime_seconds"])


RUN_HASH = re.compile(r"-[a-z0-9]{10}$")


def run_name(obj: dict, w) -> str:
    """A workload's name without the run hash it carries when it is named after a ConfigMap it mounts
    (base/train/run-name.yaml): a changed train.yaml gives the same key, so a report shows the run as changed."""
    name = dig(obj, "metadata", "name", default="")
    volumes = w.pod.get("volumes") if isinstance(w.pod, dict) else None
    mounted = {dig(v, "configMap", "name") for v in volumes if isinstance(v, dict)} if isinstance(volumes, list) else set()
    return RUN_HASH.sub("", name) if name in mounted else name
