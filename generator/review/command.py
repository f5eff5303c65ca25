"""`nautilus report`: what each overlay asks the cluster for, as a pull-request comment (or JSON);
with --base, what a change does against a git ref, before -> after."""
import json
import os
import stat
from dataclasses import asdict
from pathlib import Path

import click

from generator.core import examples, quantity, repo
from generator.core.schemas import policy
from generator.policy.check import check
from generator.render import sources
from generator.render.kustomize import allow_remote_option
from generator.render.render_key import Memo
from generator.review import baseline
from generator.review import markdown as comment
from generator.review import measured
from generator.review.baseline import Side
from generator.review.inventory import COLUMNS, RUN_HASH, formula, Row
from generator.review.markdown import MIN_BYTES
from trainer.atomic import write_text  # standard library only: the CLI still installs without PyTorch
from trainer.errors import UsageError

RUN_KINDS = ("Job", "ConfigMap", "Service")  # named with a content hash (base/train/run-name.yaml)


def totals(found: list[Row]) -> dict[str, str]:
    hours = [r.gpu_hours for r in found]
    return {
        "GPUs at once": str(sum(r.gpus for r in found)),
        "CPU requested": quantity.format_cpu(sum(r.cpu for r in found)) if found else "0",
        "memory requested": quantity.format_bytes(sum(r.memory for r in found)) if any(r.memory for r in found) else "0",
        "storage": quantity.format_bytes(sum(r.storage for r in found)) if any(r.storage for r in found) else "0",
        "worst-case GPU-h": "unbounded" if None in hours else f"{sum(hours):g}",
    }


def compare(after: list[Row], before: list[Row] | None) -> list[dict]:
    """Per workload: change (new, removed, changed, same; '' without a base) and the before/after cells."""
    if before is None:
        return [{"change": "", "before": None, "after": r.cells} for r in after]
    old, now = {r.key: r for r in before}, {r.key for r in after}
    merged = []
    for r in after:
        prior = old.get(r.key)
        change = "new" if prior is None else ("same" if prior.cells == r.cells else "changed")
        merged.append({"change": change, "before": prior.cells if prior else None, "after": r.cells})
    return merged + [{"change": "removed", "before": r.cells, "after": None} for r in before if r.key not in now]


def _change(after: Side | None, before: Side | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "removed"
    return "same" if after.text == before.text else "changed"


def entry(label: str, after: Side | None, before: Side | None, compared: bool) -> dict:
    """One overlay: its workloads before -> after, totals, finding counts and waivers (of the current side)."""
    now = after.rows if after else []
    return {
        "source": label,
        "change": _change(after, before) if compared else "",
        "workloads": compare(now, before.rows if before else [] if compared else None),
        "totals": {"before": totals(before.rows if before else []) if compared else None, "after": totals(now)},
        "findings": {"errors": sum(f.severity == "error" for f in after.findings),
                     "warnings": sum(f.severity == "warning" for f in after.findings)} if after else None,
        "waivers": [{"kind": w.kind, "name": w.name, "rule": w.rule, "reason": w.reason} for w in after.waivers]
        if after else [],
    }


def _delta(workload: dict) -> dict[str, list]:
    """The cells a workload change shows: those that changed, or every one that says something when the
    workload is new or removed."""
    before, after = workload["before"] or {}, workload["after"] or {}
    keys = [k for k in COLUMNS if k not in ("stage", "kind", "name")]
    if workload["change"] == "changed":
        return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}
    return {k: [before.get(k), after.get(k)] for k in keys if (before or after).get(k) not in (None, "-", "0")}


def _by_object(items) -> dict[tuple, object]:
    """Findings by (overlay, kind, name, rule); a run's Job and ConfigMaps by their name without the run hash,
    so a finding that stays with a run whose config changed is neither new nor fixed."""
    return {(i.source, i.kind, RUN_HASH.sub("", i.name) if i.kind in RUN_KINDS else i.name, i.rule): i for i in items}


def summary(entries: list[dict], after: dict[str, Side], before: dict[str, Side]) -> dict:
    """What the change does: overlays by kind of change, each workload that changed, findings new and fixed
    (by overlay, object and rule), waivers added and removed."""
    counts = {change: sum(e["change"] == change for e in entries) for change in ("changed", "new", "removed", "same")}
    workloads = [{"source": e["source"], "change": w["change"], "kind": (w["after"] or w["before"])["kind"],
                  "name": (w["after"] or w["before"])["name"], "cells": _delta(w)}
                 for e in entries for w in e["workloads"] if w["change"] != "same"]
    quiet = [e["source"] for e in entries
             if e["change"] == "changed" and all(w["change"] == "same" for w in e["workloads"])]
    found = {side: _by_object(f for s in sides.values() for f in s.findings) for side, sides in (("after", after), ("before", before))}
    waived = {side: {w for s in sides.values() for w in s.waivers} for side, sides in (("after", after), ("before", before))}
    return {
        "overlays": counts,
        "workloads": workloads,
        "manifests_only": quiet,
        "findings": {"new": [asdict(f) for k, f in found["after"].items() if k not in found["before"]],
                     "fixed": [asdict(f) for k, f in found["before"].items() if k not in found["after"]]},
        "waivers": {"added": [asdict(w) for w in sorted(waived["after"] - waived["before"])],
                    "removed": [asdict(w) for w in sorted(waived["before"] - waived["after"])]},
    }


@click.command(short_help="Tabulate what each overlay asks NRP for, as Markdown for a pull request or JSON.")
@click.argument("paths", nargs=-1)
@click.option("--all", "use_all", is_flag=True, help="Every overlay under overlays/.")
@click.option("--base", "base_ref", default=None, help="Compare with the overlays at this git ref (e.g. origin/main).")
@click.option("--format", "output", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--max-bytes", type=click.IntRange(min=MIN_BYTES), default=None,
              help="Fit the Markdown under this many bytes by folding and leaving out whole sections, unchanged "
                   "overlays first (a pull-request comment holds 65536 characters).")
@click.option("--full", "full_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the whole Markdown report, nothing left out, to this file.")
@click.option("--kubernetes-version", default=None, help="API schemas of this version [default: policy.yaml's].")
@click.option("--usage", "usage_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A run's usage.json (copied from the volume): its measured use beside the requests; repeatable.")
@allow_remote_option
def report(paths, use_all, base_ref, output, max_bytes, full_path, kubernetes_version, usage_files, allow_remote):
    """Tabulate what each overlay asks NRP for (GPUs, CPU, memory, storage, runtime, worst-case
    GPU-hours) with findings and waivers, as Markdown for a pull-request comment or as JSON. With
    --base, what the change does comes first and unchanged overlays are folded.

    \b
    Example:
      nautilus report --all --base origin/main --max-bytes 60000 --full report.md > comment.md
      nautilus report overlays/horse2zebra --format json
    """
    if output == "json" and (max_bytes or full_path):
        raise UsageError("--max-bytes and --full shape the Markdown report", "drop them or use --format markdown")
    if base_ref is not None and not base_ref.strip():
        raise UsageError("--base is empty", "pass a git ref to compare with (e.g. origin/main), or leave --base out")
    inputs = sources.resolve(paths, use_all)
    if full_path:
        check_full_path(full_path, [*inputs, *usage_files])
    version = kubernetes_version or str(policy()["kubernetes_version"])
    memo = Memo()  # the kustomizations, read once for the renders and for what changed since --base
    current = sources.load(inputs, allow_remote=allow_remote, memo=memo)
    result = check(current, version)
    after = baseline.sides(current, result)
    before = baseline.before(base_ref, inputs, after, version, use_all, allow_remote, memo.named) if base_ref else None
    compared = before is not None
    labels = [*after, *(label for label in (before or {}) if label not in after)]
    entries = [entry(label, after.get(label), (before or {}).get(label), compared) for label in labels]
    kept_out = example_labels(labels)
    data = {
        "base": base_ref,
        "summary": summary(entries, after, before) if compared else None,
        "overlays": entries,
        "totals": {"before": totals([r for label, s in before.items() if label not in kept_out for r in s.rows]) if compared else None,
                   "after": totals([r for label, s in after.items() if label not in kept_out for r in s.rows])},
        "examples_left_out": sorted(kept_out & set(labels)),
        "findings": {"errors": len(result.errors), "warnings": len(result.warnings), "waived": len(result.waivers)},
        "formula": formula(),
        "usage": measured.entries(list(usage_files), {label: side.rows for label, side in after.items()}),
    }
    if output == "json":
        click.echo(json.dumps(data, indent=2, allow_nan=False))  # usage figures are finite (measured.load)
        return
    usage = measured.markdown(data["usage"])
    limit = max_bytes and budget(max_bytes, usage)
    if full_path:
        try:
            write_text(full_path, comment.markdown(data) + usage)
        except OSError as exc:
            raise UsageError(f"cannot write {full_path} ({exc.strerror})", "pass --full a file in a writable folder") from exc
    click.echo(comment.markdown(data, limit) + usage, nl=False)


def example_labels(labels: list[str]) -> set[str]:
    """The template's examples among the report's overlays, kept out of its totals; none when every overlay is
    an example (the template itself), so that its report still totals something."""
    found = examples.labels(labels)
    return found if found != set(labels) else set()


def budget(max_bytes: int, usage: str) -> int:
    """What --max-bytes leaves the report beside the --usage section, which is never cut."""
    left = max_bytes - len(usage.encode())
    if left < MIN_BYTES:
        raise UsageError(f"--max-bytes {max_bytes} leaves {left} bytes for the report beside the {len(usage.encode())} "
                         f"bytes of the --usage section, less than {MIN_BYTES}", "raise --max-bytes or pass fewer --usage files")
    return left


def check_full_path(path: Path, read: list) -> None:
    """--full writes a new regular file or replaces one: never an input of this report, a file inside overlays/
    or base/, or anything that is not a regular file (a device, a FIFO, a folder, a symbolic link)."""
    fix = "pass --full a new file outside overlays/ and base/, e.g. report.md"
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
        raise UsageError(f"--full {path} exists and is not a regular file", fix)
    target = path.resolve()
    for item in read:
        source = Path(item).resolve() if item != "-" else None
        if source is not None and (target == source or source in target.parents):
            raise UsageError(f"--full {path} is {'an input' if target == source else 'inside an input'} of this report", fix)
    top = repo.find()
    for folder in ((top / "overlays", top / "base") if top else ()):
        if folder.resolve() in target.parents:
            raise UsageError(f"--full {path} is inside {folder.name}/, which kustomize reads", fix)
