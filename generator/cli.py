"""`nautilus`: one click group; each command lives in its own module."""
import click

from . import build, demo, new, report, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Scaffold, render, validate and report Kustomize overlays for NRP Nautilus.

    \b
    Example:
      nautilus new myproject --namespace gp-engine-lab --gpus 2 --gpu-product NVIDIA-A10
      nautilus validate overlays/myproject
      kubectl apply -k overlays/myproject
    """


for command in (new.new, new.init, build.build, validate.validate, report.report, demo.demo):
    main.add_command(command)
