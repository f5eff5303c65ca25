"""Carry out a plan: stop and replace what the overlays ask to, apply what is new or changed (server-side,
our field manager), prune, and write the record."""
import time

from .kube import Kube
from .plan import Plan, live_index, resource
from .record import Record, write
from .settings import settings


def carry_out(kube: Kube, plan: Plan, record: Record, record_live: dict | None, commit: str,
              rendered: list[str], removed: list[str]) -> None:
    for step in plan.of("stop", "replace", "prune"):
        kube.delete(resource(step.kind), step.name, step.uid)
    if plan.of("replace"):  # the replaced Jobs must be gone before their successors of the same name are created
        for step in plan.of("replace"):
            _wait_gone(kube, resource(step.kind), step.name)
    applied = {}
    for overlay in dict.fromkeys(s.overlay for s in plan.steps):
        objects = [s.obj for s in plan.steps if s.overlay == overlay and s.obj is not None
                   and s.action in ("create", "change", "replace")]
        for obj in kube.apply(objects):
            applied[(obj["kind"], obj["metadata"]["name"])] = obj["metadata"]["uid"]
    _update(kube, plan, record, applied, rendered, removed)
    record.commit = commit
    write(kube, record, record_live)


def _update(kube: Kube, plan: Plan, record: Record, applied: dict, rendered: list[str], removed: list[str]) -> None:
    """The record's entries for the overlays rendered now: what main renders (uid from the apply or the live object),
    plus older runs still live; removed overlays leave the record; a run started is remembered."""
    live = live_index(kube)
    gone = {(s.kind, s.name) for s in plan.of("prune", "stop", "keep-claim")}
    for overlay in rendered:
        entries, runs = [], list(record.runs(overlay))
        ours = [s for s in plan.steps if s.overlay == overlay and s.action in ("create", "change", "same", "replace")]
        for step in ours:
            uid = applied.get((step.kind, step.name)) or (live.get((step.kind, step.name)) or {}).get("metadata", {}).get("uid")
            if uid:
                entries.append({"kind": step.kind, "name": step.name, "uid": uid})
            if step.kind == "Job" and step.name not in runs:
                runs.append(step.name)
        named = {(e["kind"], e["name"]) for e in entries}
        for entry in record.objects(overlay):  # older runs that still exist
            key = (entry["kind"], entry["name"])
            now = live.get(key)
            if key not in named and key not in gone and now is not None and now["metadata"]["uid"] == entry["uid"]:
                entries.append(entry)
        record.overlays[overlay] = {"objects": entries, "runs": runs[-settings()["runs_kept"]:]}
    for overlay in removed:
        record.overlays.pop(overlay, None)


def _wait_gone(kube: Kube, resource_name: str, name: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while kube.get(resource_name, name) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{resource_name} {name} was not deleted within {seconds:g} s")
        time.sleep(1)
