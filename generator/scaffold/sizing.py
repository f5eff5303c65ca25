"""Default pod sizes from schemas/sizing.yaml: measured and estimated inputs, one formula (documented there)."""
import math

from generator.core import quantity
from generator.core.schemas import policy, sizing

GI = 2**30


def centre(band: list) -> float:
    """The band's geometric middle, as a fraction of the request."""
    low, high = band
    return math.sqrt(low * high) / 100


def train(gpus: int) -> dict[str, str]:
    """cpu, memory and shm requests of a train pod with this many GPUs (0: the size of one)."""
    t, bands = sizing()["train"], policy()["utilisation"]
    gpus = max(gpus, 1)
    value = {k: v["value"] if isinstance(v, dict) else v for k, v in t.items()}
    use = value["main_process_cores"] + value["step_rate"] / value["loader_pairs_per_core"]
    cpu = math.ceil(use / centre(bands["cpu_percent"]))
    per_gpu = sum(quantity.parse(value[k]) for k in ("process_memory", "cuda_host_memory")) \
        + (cpu - 1) * quantity.parse(value["worker_memory"])
    memory = (gpus * per_gpu + quantity.parse(value["dataset_cache"])) / centre(bands["memory_percent"])
    return {"cpu": str(gpus * cpu), "memory": f"{math.ceil(memory / GI)}Gi",
            "shm": quantity.format_bytes(gpus * quantity.parse(value["shm_per_gpu"]))}


def data() -> dict[str, str]:
    return {k: str(v) for k, v in sizing()["data"].items()}
