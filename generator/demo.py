"""`nautilus demo`: the whole template once, on this machine, with no cluster.

The same steps a project goes through on NRP, in order: write an overlay, render it with kustomize,
validate it, report what it asks for, then run the commands its pods run (the data stage, then the
trainer) on a small generated dataset, on CPU, for a few steps.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from generator.core import yamlio
from generator.core.downward import environment
from generator.policy import command as validate
from generator.render.kustomize import load_documents, render
from generator.review import command as report
from generator.scaffold.command import new

DEMO = {"name": "demo", "namespace": "gp-engine-demo", "gpus": "1", "gpu_products": ("NVIDIA-A10",)}
SMOKE = {  # train.yaml overrides that make the run small enough for a CPU
    "dataset": {"name": "demo", "load_size": 36},
    "model": {"ngf": 8, "ndf": 8, "n_blocks": 2, "n_layers_d": 2},
    "train": {"epochs": 10, "epochs_decay": 5, "crop_size": 32, "workers": 0},
    "log": {"every_steps": 10},
}


def heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def run(*args: str, pod: dict | None = None) -> None:
    """One of the pods' commands, as a child process (exactly what the container runs), with the size its
    container would see through the downward API, so that its utilisation report reads against it."""
    click.echo("$ python " + " ".join(args))
    env = dict(os.environ)
    if pod:
        env.update({k: v for k, v in environment(*pod).items() if k.startswith("NAUTILUS_")})
    if subprocess.call([sys.executable, *args], env=env) != 0:
        raise SystemExit(1)


def smoke_config(overlay: Path, dataset: Path, steps: int, out: Path) -> Path:
    """The overlay's own train.yaml, shrunk by SMOKE, reading the generated dataset."""
    config = yamlio.load(overlay / "train.yaml")
    for section, values in SMOKE.items():
        config.setdefault(section, {}).update(values)
    config["dataset"]["path"] = str(dataset)
    config["train"]["max_steps"] = steps
    yamlio.dump(config, out)
    return out


@click.command(short_help="New, render, validate, report and a short CPU training run, no cluster needed.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep everything here [default: a new temporary folder].")
@click.option("--steps", default=200, show_default=True, help="Training steps of the CPU run.")
@click.pass_context
def demo(ctx, workdir, steps):
    """Generate, render, validate and report a demo overlay, then prepare a generated dataset and
    train a small CycleGAN on CPU for a few steps; prints where the sample grid is.

    \b
    Example:
      nautilus demo
      nautilus demo --workdir /tmp/demo --steps 100
    """
    work = workdir or Path(tempfile.mkdtemp(prefix="nautilus-demo-"))
    overlays, data, root = work / "overlays", work / "dataset", work / "pvc"
    overlays.mkdir(parents=True, exist_ok=True)

    heading(f"1/5 nautilus new demo (into {overlays})")
    ctx.invoke(new, **DEMO, output_dir=overlays, force=True)
    overlay = overlays / DEMO["name"]

    heading("2/5 render with kustomize")
    objects = load_documents(render(overlay), str(overlay))
    for obj in objects:
        click.echo(f"  {obj['kind']}/{obj['metadata']['name']}")
    pods = {c["name"]: (o["spec"]["template"], c) for o in objects if o["kind"] == "Job"
            for c in o["spec"]["template"]["spec"]["containers"]}

    heading("3/5 nautilus validate (kubeconform -strict + NRP policy)")
    try:
        ctx.invoke(validate.validate, paths=(str(overlay),))
    except SystemExit as done:
        if done.code:
            raise

    heading("4/5 nautilus report")
    ctx.invoke(report.report, paths=(str(overlay),))

    heading(f"5/5 the pods' commands on CPU: data stage, then {steps} training steps")
    run("-m", "trainer.synthetic", str(data))
    config = smoke_config(overlay, data, steps, work / "train.yaml")
    run("-m", "trainer.prepare", "--config", str(config), "--root", str(root), pod=pods["data"])
    run("-m", "trainer.train", "--config", str(config), "--root", str(root), pod=pods["train"])
    samples = sorted((root / "runs").glob("*/samples/*.png"), key=lambda p: p.stat().st_mtime)
    if not samples:
        raise click.ClickException(f"training wrote no sample grid under {root / 'runs'}")
    click.secho(f"\ndone: sample grid {samples[-1]}", bold=True)
