"""Sweeps in rendered manifests: ConfigMaps that hold sweep.yaml, and the Jobs that run `trainer.sweep` on
them. The variants are expanded by trainer/variants.py, the code the pods themselves run, so what
`nautilus validate` passes and `nautilus report` lists is what runs."""
from dataclasses import dataclass, field

from generator.core.schemas import sweep_schema, train_config_schema
from generator.policy.workload import dig, workload
from trainer import safe_yaml
from trainer.variants import differing, expand, problems, read, SweepError, value_text, Variant

SWEEP_KEY, TRAIN_KEY = "sweep.yaml", "train.yaml"
ENTRY = "trainer.sweep"


@dataclass
class Sweep:
    config_map: dict
    variants: list[Variant] = field(default_factory=list)
    config: dict = field(default_factory=dict)   # train.yaml beside it
    problems: list[str] = field(default_factory=list)

    @property
    def differing(self) -> list[str]:
        return differing(self.variants)


def _train(text) -> dict:
    try:
        config = safe_yaml.load(str(text or ""), TRAIN_KEY)
    except safe_yaml.YAMLInputError:
        return {}  # the train-config rule reports it
    return config if isinstance(config, dict) else {}


def read_config_map(obj: dict) -> Sweep | None:
    """The sweep of a ConfigMap that holds sweep.yaml, its problems listed; None for other objects."""
    data, binary = obj.get("data"), obj.get("binaryData")
    if obj.get("kind") != "ConfigMap":
        return None
    if isinstance(binary, dict) and SWEEP_KEY in binary and not (isinstance(data, dict) and SWEEP_KEY in data):
        # kustomize's configMapGenerator puts a file that is not UTF-8 (Latin-1, UTF-16) under binaryData
        return Sweep(obj, problems=[f"{SWEEP_KEY} is not UTF-8 text (the ConfigMap holds it as binaryData); save it as UTF-8"])
    if not isinstance(data, dict) or SWEEP_KEY not in data:
        return None
    sweep = Sweep(obj, config=_train(data.get(TRAIN_KEY)))
    try:
        sweep.variants = expand(read(str(data[SWEEP_KEY]), SWEEP_KEY), sweep_schema(), SWEEP_KEY)
    except SweepError as e:
        sweep.problems.append(e.what)
        return sweep
    if TRAIN_KEY not in data:
        sweep.problems.append(f"{SWEEP_KEY} has no {TRAIN_KEY} beside it in the ConfigMap")
    sweep.problems += [f"{SWEEP_KEY} {p}" for p in problems(sweep.config, sweep.variants, train_config_schema())]
    return sweep


def _words(container) -> list:
    if not isinstance(container, dict):
        return []
    return [w for key in ("command", "args") if isinstance(container.get(key), list) for w in container[key]]


def runs_sweep(obj: dict) -> bool:
    w = workload(obj)
    lists = [w.pod.get(key) for key in ("containers", "initContainers")] if w else []
    return any(ENTRY in _words(c) for found in lists if isinstance(found, list) for c in found)


def job_sweep(job: dict, docs: list[dict]) -> Sweep | None:
    """The sweep a Job's pods mount (a configMap volume whose ConfigMap holds sweep.yaml), if any."""
    volumes = workload(job).pod.get("volumes")
    mounted = {dig(v, "configMap", "name") for v in volumes if isinstance(v, dict)} if isinstance(volumes, list) else set()
    for obj in docs:
        if obj.get("kind") == "ConfigMap" and dig(obj, "metadata", "name") in mounted:
            sweep = read_config_map(obj)
            if sweep:
                return sweep
    return None


def job_problems(job: dict, docs: list[dict]) -> list[str]:
    """What keeps a Job that runs trainer.sweep from running every variant of its sweep once, on its own."""
    sweep = job_sweep(job, docs)
    if sweep is None:
        return [f"runs {ENTRY} but mounts no ConfigMap holding {SWEEP_KEY}"]
    spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
    found = []
    if spec.get("completionMode") != "Indexed":
        found.append("is not an Indexed Job: its pods get no completion index to pick their variant")
    if "backoffLimitPerIndex" not in spec:
        found.append("has no backoffLimitPerIndex: one failing variant would use up the retries of all")
    completions = spec.get("completions", 1)
    if sweep.variants and completions != len(sweep.variants):
        found.append(f"has completions {completions} but {SWEEP_KEY} makes {len(sweep.variants)} variants")
    return found


def findings(docs: list[dict]) -> list[tuple[dict, str, str]]:
    """(object, rule id, detail): sweep-config on ConfigMaps holding sweep.yaml, sweep-job on Jobs running it."""
    found = []
    for obj in docs:
        sweep = read_config_map(obj)
        found += [(obj, "sweep-config", p) for p in (sweep.problems if sweep else [])]
        if obj.get("kind") == "Job" and runs_sweep(obj):
            found += [(obj, "sweep-job", p) for p in job_problems(obj, docs)]
    return found


def variants_cell(job: dict, docs: list[dict]) -> str:
    """A sweep Job's variants for `nautilus report`: how many, then each name with the keys that differ."""
    if not runs_sweep(job):
        return "-"
    sweep = job_sweep(job, docs)
    if sweep is None or not sweep.variants:
        return "sweep.yaml missing or invalid (nautilus validate says why)"
    keys = sweep.differing
    shown = [v.name + (f" ({', '.join(f'{k}={value_text(v.values[k])}' for k in keys if k in v.values)})" if keys else "")
             for v in sweep.variants]
    return f"{len(shown)}: " + "; ".join(shown)
