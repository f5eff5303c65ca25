"""A project as `nautilus new` takes it: its options, each checked against NRP policy before anything is written."""
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from generator.core import quantity, yamlio
from generator.core.gpus import fitting_products, offering, unknown_product
from generator.core.image_ref import parse as reference_of
from generator.core.image_ref import unpinned
from generator.core.schemas import train_config_schema
from generator.scaffold import sweep
from trainer import inputs
from trainer.errors import UsageError

TEMPLATES = Path(__file__).parent / "templates"
DEFAULTS = Path(__file__).parent / "defaults.yaml"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # fullmatch: `$` would accept a trailing newline
LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")  # a Secret's name
LABEL_MAX = 63
MI = 2**20


@dataclass(frozen=True)
class Project:
    name: str
    namespace: str
    gpus: int
    gpu_products: tuple[str, ...]
    gpu_resource: str
    gpu_quota: str | None
    priority_class: str | None
    cpu: str
    memory: str
    shm: str
    scratch: str
    storage: str
    storage_class: str
    image: str
    dataset: str
    nodes: int
    dev_pod: bool
    image_pull_secret: str | None = None
    sweep: tuple[str, ...] = ()     # --sweep KEY=V1,V2 options
    parallel: int | None = None     # pods of the sweep at once
    allow_unknown_product: bool = False  # products not in policy.yaml, waived on the pods with that reason


def defaults() -> dict:
    return dict(yamlio.load(DEFAULTS))


def count(option: str, text, low: int, high: int, fix: str) -> int:
    """A whole number in [low, high] from the command line (`1.5`, `abc`, `-1` rejected)."""
    return inputs.parse_int(text, option, low, high, fix)


def amount(option: str, text: str, example: str, resource: str, policy: dict) -> Fraction:
    """text as an amount of resource within Kubernetes' grammar and policy.yaml's sane range."""
    wrong = quantity.problem(resource, text, policy["quantities"])
    if wrong:
        raise UsageError(f"{option} {wrong}", f"write it like {example}")
    return quantity.parse(text)


def check(p: Project, policy: dict) -> None:
    """Every rule a fresh overlay must meet; the first one broken is a UsageError."""
    check_names(p, policy)
    gpu = policy["gpu"]
    amount("--cpu", p.cpu, "8 or 1500m", "cpu", policy)
    memory = amount("--memory", p.memory, "16Gi", "memory", policy)
    shm = amount("--shm", p.shm, "8Gi", "memory", policy)
    scratch = amount("--scratch", p.scratch, "20Gi", "ephemeral-storage", policy)
    amount("--storage", p.storage, "50Gi", "storage", policy)
    if shm >= memory:
        raise UsageError(f"--shm {p.shm} is not below --memory {p.memory} (/dev/shm counts inside the memory limit)",
                         "raise --memory or lower --shm")
    max_scratch = quantity.parse(policy["scratch"]["max_ephemeral_storage"])
    if scratch > max_scratch:
        raise UsageError(f"--scratch {p.scratch} is above NRP's {policy['scratch']['max_ephemeral_storage']} per container",
                         "keep large data on the volume (--storage) and scratch at most that")
    if p.storage_class not in policy["storage_classes"]:
        raise UsageError(f"unknown storage class {p.storage_class!r}",
                         f"use one of {', '.join(policy['storage_classes'])}")
    if p.gpu_resource != gpu["resource"] and p.gpu_resource not in gpu["special_resources"]:
        raise UsageError(f"unknown GPU resource {p.gpu_resource!r}",
                         f"use {gpu['resource']} or one of {', '.join(gpu['special_resources'])}")
    special = gpu["special_resources"].get(p.gpu_resource, {})
    priorities = policy["priority_classes"]
    if p.priority_class is not None and p.priority_class not in priorities["allowed"]:
        raise UsageError(f"priority class {p.priority_class!r} is not allowed on NRP",
                         f"use one of {', '.join(priorities['allowed'])}")
    if special.get("gated") and p.gpus and not p.gpu_quota and p.priority_class not in priorities["opportunistic"]:
        raise UsageError(f"{p.gpu_resource} needs a namespace quota ({special['quota']})",
                         "state how this namespace has it with --gpu-quota '<how>', or pass --priority-class opportunistic")
    if p.gpu_products and not p.gpus:
        raise UsageError("--gpu-product given with --gpus 0", "ask for at least one GPU or drop --gpu-product")
    unknown = [product for product in p.gpu_products if product not in gpu["products"]]
    for product in unknown:
        if not LABEL_VALUE.fullmatch(product) or len(product) > LABEL_MAX:
            raise UsageError(f"--gpu-product {product!r} is not a label value",
                             "use at most 63 letters, digits, dashes, dots and underscores, as the node label shows it")
    if unknown and not p.allow_unknown_product:
        what, hint = unknown_product(unknown[0])
        raise UsageError(what, f"{hint} (or pass --allow-unknown-product for a product newer than schemas/policy.yaml)")
    if p.gpu_products and not fitting_products(gpu, p.gpu_resource, set(p.gpu_products)):
        raise UsageError(f"{', '.join(p.gpu_products)} is not offered as {p.gpu_resource}; the pod would never schedule",
                         f"pass --gpu-resource {' or '.join(offering(gpu, set(p.gpu_products)))}")
    if p.dev_pod:
        check_dev_pod(p, policy)
    if p.parallel is not None and not p.sweep:
        raise UsageError("--parallel given without --sweep", "add --sweep KEY=V1,V2 or drop --parallel")
    if p.sweep and p.nodes > 1:
        raise UsageError("--sweep with --nodes: a sweep runs each variant in one pod, its completion index picks the variant",
                         "drop --nodes (a variant may use up to 8 GPUs of one node with --gpus), or sweep in separate projects")
    split_image(p.image)
    if p.image_pull_secret is not None and (not DNS_SUBDOMAIN.fullmatch(p.image_pull_secret) or len(p.image_pull_secret) > 253):
        raise UsageError(f"--image-pull-secret {p.image_pull_secret!r} is not a Secret name",
                         "use the name of the docker-registry secret in your namespace (lowercase letters, digits, '-', '.')")
    pattern = train_config_schema()["properties"]["dataset"]["properties"]["name"]["pattern"]
    if not re.fullmatch(pattern, p.dataset):
        raise UsageError(f"--dataset {p.dataset!r} is not a dataset name", "use letters, digits, dots, dashes, e.g. horse2zebra")
    if p.sweep:  # expanded as the pods will expand it, so that a bad variant fails here, not on a GPU
        sweep.check(sweep.grid(p.sweep), p.parallel or 1, starting_config(p))


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of a valid, pinned image reference (generator/core/image_ref.py); UsageError otherwise."""
    fix = "name a valid reference with a tag other than latest or a digest, e.g. registry/group/trainer:v1.2.0"
    try:
        reference = reference_of(image)
    except ValueError as exc:
        raise UsageError(f"--image {exc}", fix) from None
    why = unpinned(reference)
    if why:
        raise UsageError(f"--image {image!r} is not pinned to a version: {why}", fix)
    return reference.name, reference.tag, reference.digest


def check_names(p: Project, policy: dict) -> None:
    for option, value in (("NAME", p.name), ("--namespace", p.namespace)):
        if not DNS_LABEL.fullmatch(value) or len(value) > LABEL_MAX:
            raise UsageError(f"{option} {value!r} is not a DNS-1123 label",
                             "use at most 63 lowercase letters, digits and dashes, starting and ending alphanumeric")
    if p.namespace in policy["namespaces"]["reserved"]:
        raise UsageError(f"--namespace {p.namespace} is one of the cluster's own namespaces, where NRP users cannot write",
                         "pass your own NRP namespace (`kubectl config view --minify` shows it)")
    hashed = {base: defaults()["run_hash"] if base in defaults()["run_named"] else "" for base in defaults()["label_names"]}
    names = [f"{p.name}-{base}{suffix}" for base, suffix in hashed.items()]
    if p.nodes > 1:  # an indexed pod's hostname is <job>-<index>; the headless Service needs a leading letter
        names.append(f"{p.name}-{defaults()['multinode_name']}{hashed[defaults()['multinode_name']]}-{p.nodes - 1}")
        if not p.name[0].isalpha():
            raise UsageError(f"NAME {p.name!r} must start with a letter with --nodes (it names a Service)",
                             "start the name with a letter")
    longest = max(names, key=len)
    if len(longest) > LABEL_MAX:
        shown = longest.replace(defaults()["run_hash"], "-<hash>")  # the run hash kustomize adds: 10 characters and a dash
        raise UsageError(f"NAME {p.name!r} makes {shown!r} {len(longest)} characters long, above Kubernetes' {LABEL_MAX}",
                         f"shorten NAME by {len(longest) - LABEL_MAX} characters")


def check_dev_pod(p: Project, policy: dict) -> None:
    pod = policy["workloads"]["interactive_pod"]
    ratio = Fraction(str(policy["requests"]["generator_limit_ratio"]))
    if p.gpus > pod["max_gpus"]:
        raise UsageError(f"--gpus {p.gpus} with --dev-pod: NRP allows {pod['max_gpus']} GPUs in an interactive pod",
                         f"use --gpus {pod['max_gpus']} or less, or drop --dev-pod")
    # the limits the overlay writes (rounded down), which the dev pod inherits from the training container
    cpu, memory = quantity.parse(limits(p.cpu, ratio, "cpu")), quantity.parse(limits(p.memory, ratio, "bytes"))
    if cpu > pod["max_cpu"] or memory > quantity.parse(pod["max_memory"]):
        raise UsageError(f"--cpu {p.cpu} / --memory {p.memory} with --dev-pod: the interactive pod's limits pass NRP's "
                         f"{pod['max_cpu']} CPU / {pod['max_memory']}", "lower --cpu/--memory or drop --dev-pod")


def limits(request: str, ratio: Fraction, kind: str) -> str:
    """request x ratio, rounded down to whole millicores or MiB (never below the request)."""
    value = quantity.parse(request)
    if kind == "cpu":
        return quantity.format_cpu(max(value, Fraction(math.floor(value * ratio * 1000), 1000)))
    return quantity.format_bytes(max(value, Fraction(math.floor(value * ratio / MI) * MI)))


def starting_config(p: Project) -> dict:
    """The overlay's train.yaml as `nautilus new` writes it (a ruamel map, comments kept)."""
    train = yamlio.load(TEMPLATES / "overlay/train.yaml")
    train["run"] = p.name
    train["dataset"]["name"] = p.dataset
    return train
