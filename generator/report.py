"""`nautilus report`: what each overlay asks the cluster for, as a pull-request comment (or JSON),
optionally before -> after against a git ref."""
import json
from pathlib import Path

import click

from . import gitref, quantity, sources
from . import repo as repository
from .errors import UsageError
from .findings import Result
from .inventory import COLUMNS, Row, formula, rows
from .policy.table import policy
from .validate import check


def totals(found: list[Row]) -> dict[str, str]:
    hours = [r.gpu_hours for r in found]
    return {
        "GPUs at once": str(sum(r.gpus for r in found)),
        "CPU requested": quantity.format_cpu(sum(r.cpu for r in found)) if found else "0",
        "memory requested": quantity.format_bytes(sum(r.memory for r in found)) if any(r.memory for r in found) else "0",
        "storage": quantity.format_bytes(sum(r.storage for r in found)) if any(r.storage for r in found) else "0",
        "worst-case GPU-h": "unbounded" if None in hours else f"{sum(hours):g}",
    }


def arrow(before: str | None, after: str | None) -> str:
    """One cell: the value, or `before → after` when it changed."""
    if before is None or before == after:
        return after if after is not None else before
    return before if after is None else f"{before} → {after}"


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


def entry(label: str, after: list[Row], before: list[Row] | None, result: Result | None) -> dict:
    return {
        "source": label,
        "workloads": compare(after, before),
        "totals": {"before": totals(before) if before is not None else None, "after": totals(after)},
        "findings": {"errors": len(result.errors), "warnings": len(result.warnings)} if result else None,
        "waivers": [{"kind": w.kind, "name": w.name, "rule": w.rule, "reason": w.reason} for w in result.waivers]
        if result else [],
    }


def _table_row(values: list[str]) -> str:
    return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"


def markdown(data: dict) -> str:
    compared = bool(data["base"])
    out = ["## Resource report", ""]
    if compared:
        out += [f"Compared with `{data['base']}`; a changed cell reads `before → after`.", ""]
    for item in data["overlays"]:
        out += [f"### `{item['source']}`", ""]
        head = (["change"] if compared else []) + list(COLUMNS.values())
        out += [_table_row(head), "|" + " --- |" * len(head)]
        for w in item["workloads"]:
            cells = [arrow((w["before"] or {}).get(k), (w["after"] or {}).get(k)) for k in COLUMNS]
            if w["change"] == "removed":
                cells = [f"~~{c}~~" for c in cells]
            mark = [f"**{w['change']}**" if w["change"] != "same" else ""] if compared else []
            out.append(_table_row(mark + cells))
        before = item["totals"]["before"] or {}
        out += ["", "Totals: " + ", ".join(f"{k} {arrow(before.get(k), v)}" for k, v in item["totals"]["after"].items()) + "."]
        if item["findings"]:
            out.append(f"Findings: {item['findings']['errors']} error(s), {item['findings']['warnings']} warning(s).")
        out += [f"- waived `{w['rule']}` on {w['kind']}/{w['name']}: {w['reason']}" for w in item["waivers"]]
        out.append("")
    out += ["### All overlays", "", "| total | before | after |" if compared else "| total | value |",
            "| --- | --- | --- |" if compared else "| --- | --- |"]
    for key, value in data["totals"]["after"].items():
        out.append(_table_row([key, data["totals"]["before"][key], value] if compared else [key, value]))
    return "\n".join(out + ["", f"<sub>{data['formula']}</sub>", ""])


def base_rows(ref: str, inputs: list, labels: list[str], use_all: bool) -> dict[str, list[Row]]:
    """{label: rows} of the same overlays (and, with --all, every overlay) as they are at ref."""
    repo = gitref.toplevel()
    with gitref.checkout(ref, repo) as tree:
        pairs = []
        for item, label in zip(inputs, labels):
            if item == "-":
                raise UsageError("--base cannot compare stdin", "pass overlay folders or YAML files")
            try:
                old = tree / Path(item).resolve().relative_to(repo)
            except ValueError:
                raise UsageError(f"{item} is outside the git repository {repo}", "run inside that repository") from None
            if old.exists():
                pairs.append((old, label))
        overlays = repository.overlays()
        if use_all and overlays.is_relative_to(repo):
            known = set(labels)
            for old in sorted((tree / overlays.relative_to(repo)).glob("*/kustomization.yaml")):
                label = sources.label_for(overlays / old.parent.name)
                if label not in known:
                    pairs.append((old.parent, label))
        loaded = sources.load([p for p, _ in pairs], [label for _, label in pairs]) if pairs else []
    return {s.label: rows(s) for s in loaded}


def _only(result: Result, label: str) -> Result:
    return Result([f for f in result.findings if f.source == label], [w for w in result.waivers if w.source == label], [label])


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--all", "use_all", is_flag=True, help="Every overlay under overlays/.")
@click.option("--base", "base_ref", default=None, help="Compare with the overlays at this git ref (e.g. origin/main).")
@click.option("--format", "output", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--kubernetes-version", default=None, help="API schemas of this version [default: policy.yaml's].")
def report(paths, use_all, base_ref, output, kubernetes_version):
    """Tabulate what each overlay asks NRP for (GPUs, CPU, memory, storage, runtime, worst-case
    GPU-hours) with findings and waivers, as Markdown for a pull-request comment or as JSON.

    \b
    Example:
      nautilus report --all --base origin/main > report.md
      nautilus report overlays/horse2zebra --format json
    """
    inputs = sources.resolve(paths, use_all)
    current = sources.load(inputs)
    result = check(current, kubernetes_version or str(policy()["kubernetes_version"]))
    before = base_rows(base_ref, inputs, [s.label for s in current], use_all) if base_ref else {}
    entries = [entry(s.label, rows(s), before.get(s.label, []) if base_ref else None, _only(result, s.label))
               for s in current]
    current_labels = {s.label for s in current}
    entries += [entry(label, [], old, None) for label, old in before.items() if label not in current_labels]
    after_all = [r for s in current for r in rows(s)]
    data = {
        "base": base_ref,
        "overlays": entries,
        "totals": {"before": totals([r for v in before.values() for r in v]) if base_ref else None,
                   "after": totals(after_all)},
        "findings": {"errors": len(result.errors), "warnings": len(result.warnings), "waived": len(result.waivers)},
        "formula": formula(),
    }
    click.echo(json.dumps(data, indent=2) if output == "json" else markdown(data))
