"""A plan as Markdown: the pull request's live diff and the deploy's run summary."""
from . import pipeline
from .plan import Plan

HEADINGS = {
    "create": "created", "change": "changed", "replace": "replaced (asked for by the overlay)",
    "prune": "pruned (main no longer has it)", "keep-claim": "kept (a volume is never deleted)",
    "stop": "stopped (superseded run; the overlay asks for it)", "supersede": "older run still running (left alone)",
    "not-rerun": "not started again", "refused": "not applied (the API server refuses the change)", "same": "unchanged",
}
MAX_ROWS = 200
LONGEST_CELL = 600  # the fields a change touches, and the note on how to stop an older run


def render(plan: Plan, title: str, commit: str = "") -> str:
    lines = [f"### {title}", ""]
    where = f"namespace `{plan.namespace}`" + (f", main at `{commit[:12]}`" if commit else "")
    counts = {action: len(plan.of(action)) for action in HEADINGS}
    said = ", ".join(f"{n} {HEADINGS[a].split(' (')[0]}" for a, n in counts.items() if n)
    lines += [f"In {where}: {said or 'no overlay to look at'}.", ""]
    if not plan.changes:
        lines += ["Nothing to apply: the namespace already holds this.", ""]
    runs = [s for s in plan.of("create", "replace") if s.kind == "Job"]
    if runs:
        lines += ["Runs started: " + ", ".join(f"`{s.name}`" for s in runs) + ".", ""]
    rows = [s for s in plan.steps if s.action != "same"]
    if rows:
        lines += ["| overlay | action | kind | name | what |", "| --- | --- | --- | --- | --- |"]
        for step in rows[:MAX_ROWS]:
            what = "; ".join(filter(None, [", ".join(f"`{f}`" for f in step.fields[:8]), step.note]))
            cells = [f"overlays/{step.overlay}", HEADINGS[step.action], step.kind, step.name, what]
            lines.append("| " + " | ".join(pipeline.cell(c, LONGEST_CELL) for c in cells) + " |")
        if len(rows) > MAX_ROWS:
            lines.append(f"| ... | {len(rows) - MAX_ROWS} more | | | |")
        lines.append("")
    if plan.skipped:
        lines += ["Not deployed here (another namespace): " + ", ".join(f"overlays/{n}" for n in plan.skipped) + ".", ""]
    return "\n".join(lines)

