"""`nautilus validate`: kubeconform (API schemas, offline) + NRP policy + train.yaml, over overlays or files."""
import click

from generator.core import examples, repo
from generator.core import published_image as published

from generator.core.schemas import policy
from generator.policy.check import check
from generator.policy.findings import FORMATS
from generator.policy.rules_doc import rules_markdown as rules_table
from generator.render import sources
from generator.render.kustomize import allow_remote_option


@click.command(short_help="Check overlays against the Kubernetes API schemas and NRP policy; exit 1 on errors.")
@click.argument("paths", nargs=-1)
@click.option("--all", "use_all", is_flag=True, help="Every overlay under overlays/.")
@click.option("--format", "output", type=click.Choice(sorted(FORMATS)), default="text", show_default=True)
@click.option("--kubernetes-version", default=None, help="API schemas of this version [default: policy.yaml's].")
@click.option("--ignore-missing-schemas", is_flag=True, help="Skip objects with no API schema (custom resources).")
@click.option("--rules-markdown", is_flag=True, help="Print the rule table as Markdown (docs/rules.md) and exit.")
@allow_remote_option
def validate(paths, use_all, output, kubernetes_version, ignore_missing_schemas, rules_markdown, allow_remote):
    """Check overlays (rendered with kustomize), YAML files or `-` (stdin) against the Kubernetes API
    schemas and NRP policy. Exit 0 clean, 1 on error findings, 2 on bad input.

    \b
    Example:
      nautilus validate overlays/horse2zebra
      nautilus validate --all --format github
      kustomize build overlays/x | nautilus validate -
    """
    if rules_markdown:
        click.echo(rules_table(), nl=False)
        return
    version = kubernetes_version or str(policy()["kubernetes_version"])
    loaded = sources.load(sources.resolve(paths, use_all), allow_remote=allow_remote)
    result = check(loaded, version, ignore_missing_schemas)
    quiet = _examples_notes(result) if use_all else 0
    text = FORMATS[output](result)
    if text:
        click.echo(text)
    stale = _uncommitted_trainer(loaded)
    if stale:
        click.echo(stale, err=True)
    if quiet:
        click.echo(f"{quiet} note(s) on the template's example overlays (overlays/examples.yaml) not shown; "
                   f"{examples.NOTE}", err=True)
    click.echo(result.summary(), err=True)
    raise SystemExit(result.exit_code())


def _examples_notes(result) -> int:
    """Leave out the notes (info findings) on the template's examples: a fork's --all is about the fork. Their
    errors and warnings stay. Returns how many were left out."""
    kept_out = examples.labels(result.sources)
    notes = [f for f in result.findings if f.severity == "info" and f.source in kept_out]
    result.findings = [f for f in result.findings if f not in notes]
    return len(notes)


def _uncommitted_trainer(loaded) -> str | None:
    """The warning of uncommitted trainer changes, when an overlay checked runs this repository's own image."""
    root = repo.find()
    own = published.name(root) if root is not None else None
    return published.uncommitted_warning(root) if own and any(f"{own}:" in s.text for s in loaded) else None
