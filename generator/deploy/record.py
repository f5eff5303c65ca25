"""The record of what this repository applied: one ConfigMap in the namespace, annotated with the last
applied commit; per overlay the objects applied (kind, name, uid) and the runs (Job names) ever started,
so that a finished run removed by its TTL is not started again."""
import json
from dataclasses import dataclass, field

from trainer import inputs

from . import pipeline
from .kube import Kube
from .settings import settings

MAX_RECORD_BYTES = 512 * 1024  # a ConfigMap holds at most 1 MiB


@dataclass
class Record:
    commit: str = ""
    overlays: dict = field(default_factory=dict)  # name -> {"objects": [{kind, name, uid}], "runs": [job names]}

    def objects(self, overlay: str) -> list[dict]:
        return self.overlays.get(overlay, {}).get("objects", [])

    def runs(self, overlay: str) -> list[str]:
        return self.overlays.get(overlay, {}).get("runs", [])

    def overlay_of(self, kind: str, name: str) -> str | None:
        return next((o for o, entry in self.overlays.items()
                     if any(x["kind"] == kind and x["name"] == name for x in entry.get("objects", []))), None)


def read(kube: Kube) -> tuple[Record, dict | None]:
    """The record and its live ConfigMap (None before the first apply)."""
    live = kube.get("configmap", settings()["record"])
    if live is None:
        return Record(), None
    text = (live.get("data") or {}).get(settings()["record_key"], "{}")
    try:  # a record edited by hand into nonsense reads as none: nothing is pruned from it
        data = inputs.parse_json(text, "the record") if len(text) <= MAX_RECORD_BYTES else {}
    except inputs.UsageError:
        data = {}
    data = data if isinstance(data, dict) else {}
    commit = (live["metadata"].get("annotations") or {}).get(settings()["commit_annotation"], "")
    overlays = data.get("overlays") if isinstance(data.get("overlays"), dict) else {}
    return Record(commit, overlays), live


def write(kube: Kube, record: Record, live: dict | None) -> None:
    """Apply the record, unless it already says exactly this (then nothing changes, not even its resourceVersion)."""
    text = json.dumps({"overlays": record.overlays}, sort_keys=True, indent=1)
    if len(text) > MAX_RECORD_BYTES:
        raise pipeline.UsageError(f"the record of what was applied outgrew {MAX_RECORD_BYTES // 1024} KiB",
                                  "deploy fewer overlays into one namespace, or lower runs_kept in generator/deploy/gitops.yaml")
    if live is not None and (live.get("data") or {}).get(settings()["record_key"]) == text and \
            (live["metadata"].get("annotations") or {}).get(settings()["commit_annotation"]) == record.commit:
        return
    kube.apply([{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": settings()["record"], "namespace": kube.namespace,
                     "labels": {"app.kubernetes.io/managed-by": settings()["field_manager"]},
                     "annotations": {settings()["commit_annotation"]: record.commit}},
        "data": {settings()["record_key"]: text},
    }])
