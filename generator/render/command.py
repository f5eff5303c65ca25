"""`nautilus build`: an overlay's manifests as the real kustomize renders them."""
from pathlib import Path

import click

from generator.render.kustomize import allow_remote_option, render


@click.command(short_help="Print the rendered manifests of OVERLAY (kustomize build, offline).")
@click.argument("overlay", type=click.Path(path_type=Path))
@allow_remote_option
def build(overlay, allow_remote):
    """Print the rendered manifests of OVERLAY.

    \b
    Example:
      nautilus build overlays/horse2zebra | kubectl diff -f -
    """
    click.echo(render(overlay, allow_remote), nl=False)
