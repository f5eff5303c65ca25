"""`nautilus build`: an overlay's manifests as the real kustomize renders them."""
from pathlib import Path

import click

from .render import render


@click.command()
@click.argument("overlay", type=click.Path(path_type=Path))
def build(overlay):
    """Print the rendered manifests of OVERLAY.

    \b
    Example:
      nautilus build overlays/horse2zebra | kubectl diff -f -
    """
    click.echo(render(overlay), nl=False)
