"""What applying main would do to the namespace now, computed from the record, the live objects and a
server-side dry run of each object: created, changed (which fields), unchanged, pruned, kept; runs
started, not started again, superseded or replaced. Plain data; apply.py carries it out, markdown.py prints it."""
from dataclasses import dataclass, field

from .desired import Overlay
from .kube import Kube
from .record import Record
from .settings import settings

IGNORED_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")
STAGE_LABEL = "nautilus.io/stage"


@dataclass
class Step:
    overlay: str
    kind: str
    name: str
    action: str          # create | change | same | not-rerun | refused | replace | prune | keep-claim | supersede | stop
    fields: list[str] = field(default_factory=list)
    note: str = ""
    obj: dict | None = None   # what to apply
    uid: str = ""             # what to delete


@dataclass
class Plan:
    namespace: str
    steps: list[Step] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # overlays of other namespaces

    def of(self, *actions: str) -> list[Step]:
        return [s for s in self.steps if s.action in actions]

    @property
    def changes(self) -> bool:
        return bool(self.of("create", "change", "replace", "prune", "stop"))


def resource(kind: str) -> str:
    spec = settings()["kinds"][kind]
    return f"{spec['resource']}.{spec['group']}" if spec["group"] else spec["resource"]


def normalised(obj: dict) -> dict:
    obj = {k: v for k, v in obj.items() if k != "status"}
    obj["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k not in IGNORED_METADATA}
    return obj


def differences(before, after, path: str = "") -> list[str]:
    """Dotted paths where two objects differ (at most 20)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            found += differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return found[:20]
    return [] if before == after else [path or "(object)"]


def active(job: dict) -> bool:
    conditions = {c["type"] for c in (job.get("status") or {}).get("conditions", []) if c.get("status") == "True"}
    return not conditions & {"Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"}


def _stage(obj: dict) -> str:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(STAGE_LABEL, "")


def _on_new_run(obj: dict) -> str:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(settings()["on_new_run_annotation"], "keep")


def live_index(kube: Kube) -> dict[tuple[str, str], dict]:
    kinds = ",".join(resource(k) for k in settings()["kinds"])
    return {(o["kind"], o["metadata"]["name"]): o for o in kube.items(kinds)}


def compute(kube: Kube, desired: list[Overlay], record: Record, removed: list[str], skipped: list[str]) -> Plan:
    """desired: overlays rendered now; removed: overlays in the record that main no longer has."""
    live = live_index(kube)
    plan = Plan(kube.namespace, skipped=skipped)
    label = settings()["overlay_label"]
    for overlay in desired:
        names = {(o["kind"], o["metadata"]["name"]) for o in overlay.objects}
        started = []
        for obj in overlay.objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            now = live.get((kind, name))
            if now is None:
                if kind == "Job" and name in record.runs(overlay.name):
                    plan.steps.append(Step(overlay.name, kind, name, "not-rerun",
                                           note="ran before and is gone (finished, removed by its TTL): not started again"))
                    continue
                plan.steps.append(Step(overlay.name, kind, name, "create", obj=obj,
                                       note="new run" if kind == "Job" else ""))
                if kind == "Job":
                    started.append(obj)
                continue
            merged, refusal = kube.dry_run(obj)
            if refusal:
                if kind == "Job" and _on_new_run(obj) == "replace":
                    plan.steps.append(Step(overlay.name, kind, name, "replace", obj=obj, uid=now["metadata"]["uid"],
                                           note="changed in place; the overlay asks to replace it (nautilus.io/on-new-run: replace)"))
                else:
                    plan.steps.append(Step(overlay.name, kind, name, "refused", note=refusal))
                continue
            fields = differences(normalised(now), normalised(merged))
            plan.steps.append(Step(overlay.name, kind, name, "change" if fields else "same", fields=fields,
                                   obj=obj if fields else None))
        plan.steps += _superseded(overlay, started, live, record)
        plan.steps += _prunes(overlay.name, names, live, record, label, keep_runs=True)
    for name in removed:
        plan.steps += _prunes(name, set(), live, record, label, keep_runs=False)
    return plan


def _superseded(overlay: Overlay, started: list[dict], live: dict, record: Record) -> list[Step]:
    """Older runs of the stages that start a new run: still running ones are kept or stopped, as the overlay asks."""
    steps = []
    for new in started:
        stage = _stage(new)
        for entry in record.objects(overlay.name):
            old = live.get(("Job", entry["name"]))
            if entry["kind"] != "Job" or old is None or entry["name"] == new["metadata"]["name"] or _stage(old) != stage \
                    or not active(old) or old["metadata"]["uid"] != entry["uid"]:
                continue
            if _on_new_run(new) == "replace":
                steps.append(Step(overlay.name, "Job", entry["name"], "stop", uid=entry["uid"],
                                  note=f"replaced by {new['metadata']['name']} (nautilus.io/on-new-run: replace)"))
            else:
                steps.append(Step(overlay.name, "Job", entry["name"], "supersede",
                                  note=f"still runs beside {new['metadata']['name']}; stop it: "
                                       f"kubectl delete job {entry['name']} -n {overlay.objects[0]['metadata']['namespace']}"))
    return steps


def _prunes(overlay: str, names: set, live: dict, record: Record, label: str, keep_runs: bool) -> list[Step]:
    """Objects this repository applied for overlay, still live (same uid, our label), that main no longer renders.
    A claim is never deleted. While the overlay exists, older runs' Jobs stay until their TTL, with their configs."""
    steps = []
    for entry in record.objects(overlay):
        kind, name = entry["kind"], entry["name"]
        now = live.get((kind, name))
        if (kind, name) in names or now is None or now["metadata"]["uid"] != entry["uid"] \
                or ((now["metadata"].get("labels") or {}).get(label) != overlay):
            continue
        if keep_runs and (kind == "Job" or (kind in ("ConfigMap", "Service") and ("Job", name) in live)):
            continue  # an older run (or its config) that still exists: left alone
        if not settings()["kinds"][kind]["prune"]:
            steps.append(Step(overlay, kind, name, "keep-claim",
                              note=f"kept: delete it yourself once its data is copied: kubectl delete pvc {name} -n {now['metadata']['namespace']}"))
            continue
        steps.append(Step(overlay, kind, name, "prune", uid=entry["uid"]))
    return steps
