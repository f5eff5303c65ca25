"""Drift: where the namespace and main disagree, from a plan of all of main's overlays. Expected and not
drift: a finished run removed by its TTL, an older run still there, and configs of runs that are gone."""
from .plan import Plan, Step
from .record import Record

MEANING = {"change": "changed by hand", "refused": "changed by hand (cannot be re-applied)",
           "replace": "changed by hand", "prune": "main no longer has it"}


def findings(plan: Plan, record: Record, main_overlays: set[str]) -> list[tuple[Step, str]]:
    found = []
    for step in plan.steps:
        if step.action == "create":
            recorded = any(o["kind"] == step.kind and o["name"] == step.name for o in record.objects(step.overlay))
            found.append((step, "deleted by hand" if recorded else "on main, not applied yet"))
        elif step.action == "prune" and step.overlay in main_overlays and step.kind != "Job":
            continue  # the config of a run that is gone: housekeeping for the next apply
        elif step.action in MEANING:
            found.append((step, MEANING[step.action]))
    return found


def markdown(found, namespace: str) -> str:
    if not found:
        return f"No drift: namespace `{namespace}` holds what main renders."
    lines = [f"Namespace `{namespace}` differs from main in {len(found)} object(s):", "",
             "| overlay | kind | name | drift | fields |", "| --- | --- | --- | --- | --- |"]
    for step, what in found[:200]:
        fields = ", ".join(f"`{f}`" for f in step.fields[:8])
        lines.append(f"| overlays/{step.overlay} | {step.kind} | {step.name} | {what} | {fields} |")
    return "\n".join(lines)
