"""What runs for each overlay: its Jobs' state, their pods, node and GPU product, age, and the last applied commit."""
import datetime

from .kube import Kube
from .plan import active

INSTANCE = "app.kubernetes.io/instance"
PRODUCT = "nvidia.com/gpu.product"


def state(job: dict) -> str:
    status = job.get("status") or {}
    conditions = [c["type"] for c in status.get("conditions", []) if c.get("status") == "True"]
    for wanted in ("Complete", "Failed", "Suspended"):
        if wanted in conditions:
            return wanted.lower()
    return "running" if active(job) and status.get("active") else "pending"


def age(stamp: str, now: datetime.datetime) -> str:
    seconds = int((now - datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rows(kube: Kube, overlays: list[str]) -> list[list[str]]:
    jobs, pods = kube.items("jobs.batch"), kube.items("pods")
    products: dict[str, str] = {}
    now = datetime.datetime.now(datetime.timezone.utc)
    found = []
    for overlay in overlays:
        mine = sorted((j for j in jobs if (j["metadata"].get("labels") or {}).get(INSTANCE) == overlay),
                      key=lambda j: j["metadata"]["creationTimestamp"])
        if not mine:
            found.append([overlay, "-", "no Job", "-", "-", "-", "-"])
        for job in mine:
            name = job["metadata"]["name"]
            its = [p for p in pods if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == name]
            nodes = sorted({p["spec"].get("nodeName") for p in its if p["spec"].get("nodeName")})
            phases = ", ".join(f"{n} {ph.lower()}" for ph, n in _count(p["status"].get("phase", "?") for p in its))
            gpus = sorted({products.setdefault(n, _product(kube, n)) for n in nodes} - {""})
            found.append([overlay, name, state(job), phases or "no pod", ", ".join(nodes) or "-", ", ".join(gpus) or "-",
                          age(job["metadata"]["creationTimestamp"], now)])
    return found


def _count(values):
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return sorted(counted.items())


def _product(kube: Kube, node: str) -> str:
    """The node's GPU product, when the credentials may read nodes (a personal kubeconfig); else empty."""
    found = kube.run("get", "node", node, "-o", f"jsonpath={{.metadata.labels.{PRODUCT.replace('.', chr(92) + '.')}}}")
    return found.stdout.strip() if found.returncode == 0 else ""
