"""`nautilus gitops ...`: the commands. Exit codes: 0 done or clean, 1 findings (drift, a refused change,
validation errors, a right the token lacks or holds wrongly), 2 bad input, 3 unexpected."""
import re
import sys
from pathlib import Path

import click

from . import apply as applying, changes, checks, desired, drift as drifting, identity as ident, markdown, pipeline, record, status as statuses
from .kube import Kube
from .plan import compute

namespace_option = click.option("--namespace", "-n", envvar="NAUTILUS_NAMESPACE",
                                help="The namespace the deploy identity acts in [env NAUTILUS_NAMESPACE].")


def _namespace(value: str | None) -> str | None:
    """Checked when a command runs (parsing alone needs none): one line, exit 2."""
    if not value:
        raise pipeline.UsageError("no namespace given", "pass --namespace NAME or set NAUTILUS_NAMESPACE")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
        raise pipeline.UsageError(f"--namespace {value!r} is not a namespace name", "use lowercase letters, digits and dashes")
    return value
summary_option = click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), envvar="GITHUB_STEP_SUMMARY",
                              help="Also append the Markdown to this file [env GITHUB_STEP_SUMMARY].")


@click.group(short_help="Apply main to your namespace, show a pull request's live diff, notice drift.")
def gitops():
    """Apply main to a namespace from CI, show a pull request's live diff, notice drift (docs/gitops.md)."""


@gitops.command()
@namespace_option
def identity(namespace):
    """Write deploy/identity/ (ServiceAccount, Role, RoleBinding, token Secret) and print the set-up steps."""
    namespace = _namespace(namespace)
    root = pipeline.repo_root()
    ident.write(root, namespace)
    click.echo(ident.steps(namespace))


@gitops.command("can-i")
@namespace_option
@summary_option
def can_i(namespace, summary):
    """What the token may and may not do (kubectl auth can-i); exit 1 when a right is missing or one too many."""
    namespace = _namespace(namespace)
    found = checks.rows(Kube(namespace))
    text = "### What the deploy token may do\n\n" + checks.table(found) + "\n"
    _emit(text, summary)
    wrong = [r for r in found if r[3] != r[4]]
    if wrong:
        click.echo(f"{len(wrong)} right(s) differ from the Role's intent: rewrite and re-apply deploy/identity", err=True)
        sys.exit(1)


def _inputs(kube: Kube, rendered: Path | None, changed_only: bool):
    root = pipeline.repo_root()
    if rendered is not None:  # read and checked before anything reaches the cluster
        overlays, skipped = desired.from_folder(rendered, kube.namespace)
        on_main = {o.name for o in overlays} | set(skipped)
        rec, live = record.read(kube)
    else:
        rec, live = record.read(kube)
        on_main = {p.name for p in pipeline.project_overlays(root)}
        names = sorted(on_main)
        if changed_only:
            names = sorted(set(changes.changed_overlays(root, rec.commit, names)) | (on_main - set(rec.overlays)))
        overlays, skipped = desired.from_repository(root, kube.namespace, names)
    removed = [name for name in rec.overlays if name not in on_main]
    return root, rec, live, overlays, skipped, removed, on_main


def _validate(overlays) -> list[str]:
    return [line for o in overlays for line in pipeline.errors_of(f"overlays/{o.name}", o.text)]


@gitops.command()
@namespace_option
@click.option("--rendered", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Plan these rendered overlays (<overlay>.yaml, e.g. a pull request's artifact) instead of rendering.")
@click.option("--changed-only", is_flag=True, help="Only overlays changed since the last applied commit.")
@click.option("--title", default="What merging would do to the namespace now", show_default=True)
@summary_option
def plan(namespace, rendered, changed_only, title, summary):
    """What applying main (or --rendered) would do now: created, changed fields, unchanged, pruned, runs."""
    namespace = _namespace(namespace)
    kube = Kube(namespace)
    root, rec, _, overlays, skipped, removed, _ = _inputs(kube, rendered, changed_only)
    errors = _validate(overlays)
    result = compute(kube, overlays, rec, removed, skipped)
    text = markdown.render(result, title)
    if errors:
        text += "\n**Validation errors** (nothing would be applied):\n\n" + "\n".join(f"- {e}" for e in errors) + "\n"
    _emit(text, summary)
    sys.exit(1 if errors or result.of("refused") else 0)


@gitops.command()
@namespace_option
@click.option("--changed-only", is_flag=True, help="Only overlays changed since the last applied commit.")
@click.option("--commit", default=None, help="The commit applied, for the record [default: git HEAD].")
@summary_option
def apply(namespace, changed_only, commit, summary):
    """Validate, then apply main's project overlays (server-side, field manager nautilus-gitops), prune what main
    no longer has (never a claim), and record it. A run that ran is not started again."""
    namespace = _namespace(namespace)
    kube = Kube(namespace)
    root, rec, live, overlays, skipped, removed, _ = _inputs(kube, None, changed_only)
    errors = _validate(overlays)
    if errors:
        _emit("### Deploy stopped: validation errors\n\n" + "\n".join(f"- {e}" for e in errors) + "\n", summary)
        sys.exit(1)
    result = compute(kube, overlays, rec, removed, skipped)
    commit = commit or changes.head(root)
    applying.carry_out(kube, result, rec, live, commit, [o.name for o in overlays], removed)
    _emit(markdown.render(result, "Applied to the namespace", commit), summary)
    sys.exit(1 if result.of("refused") else 0)


@gitops.command()
@namespace_option
@summary_option
def drift(namespace, summary):
    """Compare main with the namespace: objects changed or deleted by hand, and this repository's objects that
    main no longer has. Exit 1 on drift; finished runs removed by their TTL are not drift."""
    namespace = _namespace(namespace)
    kube = Kube(namespace)
    _, rec, _, overlays, skipped, removed, on_main = _inputs(kube, None, False)
    found = drifting.findings(compute(kube, overlays, rec, removed, skipped), rec, on_main)
    _emit(drifting.markdown(found, namespace) + "\n", summary)
    sys.exit(1 if found else 0)


@gitops.command()
@namespace_option
def status(namespace):
    """For each project overlay on main: its Jobs' state, pods, node, GPU product, age; the last applied commit."""
    namespace = _namespace(namespace)
    kube = Kube(namespace)
    rec, _ = record.read(kube)
    names = [p.name for p in pipeline.project_overlays(pipeline.repo_root())]
    rows = [["overlay", "job", "state", "pods", "node", "GPU", "age"], *statuses.rows(kube, names)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    click.echo(f"last applied commit: {rec.commit or 'none (nothing applied by the workflow yet)'}")


def _emit(text: str, summary: Path | None) -> None:
    click.echo(text)
    if summary:
        with open(summary, "a") as handle:
            handle.write(text + "\n")
