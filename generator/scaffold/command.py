"""`nautilus new` (one project's overlay) and `nautilus init` (the bases, into another repository)."""
import os
import shutil
from pathlib import Path

import click

from generator.core import published_image as published
from generator.core import repo
from generator.core.schemas import policy as nrp_policy
from generator.scaffold import options, overlay, sizing, written
from trainer.atomic import check_parent, check_targets, replace_folders
from trainer.errors import UsageError
from trainer.variants import MAX_VARIANTS

_DEFAULTS = options.defaults()


class PolicyListOption(click.Option):
    """An option whose help names values of schemas/policy.yaml (`{}` in the help), read when the help is shown."""

    def __init__(self, *args, listed: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self.listed, self.template = listed, self.help

    def get_help_record(self, ctx):
        node = nrp_policy()
        for key in self.listed:
            node = node[key]
        self.help = self.template.format(", ".join(node))
        return super().get_help_record(ctx)


@click.command(short_help="Write a project's overlay (overlays/NAME/, NAME.results/, and NAME.dev/ with --dev-pod).")
@click.argument("name")
@click.option("--namespace", required=True, help="Your NRP namespace (kubectl config view --minify).")
@click.option("--gpus", default=str(_DEFAULTS["gpus"]), show_default=True, metavar="N",
              help="GPUs per pod, 0-8 (at most 2 with --dev-pod).")
@click.option("--gpu-product", "gpu_products", multiple=True, help="nvidia.com/gpu.product value; repeat for several.")
@click.option("--allow-unknown-product", is_flag=True, help="Accept a --gpu-product not yet in schemas/policy.yaml.")
@click.option("--gpu-resource", default="nvidia.com/gpu", show_default=True, help="GPU resource name, e.g. nvidia.com/a100.")
@click.option("--gpu-quota", help="How the namespace has quota for a gated GPU resource (a100, h100, ...).")
@click.option("--priority-class", cls=PolicyListOption, listed=("priority_classes", "allowed"),
              help="NRP priority class, one of: {}; opportunistic runs gated GPUs without quota, preemptible.")
@click.option("--cpu", help="CPU request per pod [default: scaled by --gpus, schemas/sizing.yaml].")
@click.option("--memory", help="Memory request per pod, /dev/shm included [default: scaled by --gpus, schemas/sizing.yaml].")
@click.option("--shm", help="/dev/shm size (memory) [default: scaled by --gpus, schemas/sizing.yaml].")
@click.option("--scratch", default=_DEFAULTS["scratch"], show_default=True, help="/scratch size (ephemeral storage).")
@click.option("--storage", default=_DEFAULTS["storage"], show_default=True, help="Volume size.")
@click.option("--storage-class", default=_DEFAULTS["storage_class"], show_default=True, help="Volume storage class.")
@click.option("--image", help="Trainer image with a pinned tag [default: the one this repository's image workflow "
              "publishes for its trainer code, named from its git remote origin].")
@click.option("--image-pull-secret", help="Secret that pulls a private image (kubectl create secret docker-registry), "
              "for every pod.")
@click.option("--dataset", default=_DEFAULTS["dataset"], show_default=True, help="Dataset name in train.yaml.")
@click.option("--nodes", default=str(_DEFAULTS["nodes"]), show_default=True, metavar="N", help="Nodes for a multi-node train Job.")
@click.option("--sweep", "sweep", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a train.yaml key over values (repeat: every combination); one Indexed Job, a pod per variant.")
@click.option("--parallel", default=None, metavar="N", help="Pods of the sweep at once [default: 1].")
@click.option("--dev-pod", is_flag=True, help="Also write <NAME>.dev/, an opt-in interactive pod (6 h).")
@click.option("--force", is_flag=True, help="Replace an existing overlay (a NAME.dev/ is kept unless --dev-pod rewrites it); "
              "refused while it holds files edited since nautilus wrote them.")
@click.option("--discard-edits", is_flag=True, help="With --force: replace edited files too, keeping a copy of each edited "
              "folder in .discarded/ beside it.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None,
              help="Folder that receives the overlay [default: overlays/ of the repository you are in].")
def new(name, namespace, gpus, gpu_products, allow_unknown_product, gpu_resource, gpu_quota, priority_class, cpu, memory, shm,
        scratch, storage, storage_class, image, image_pull_secret, dataset, nodes, sweep, parallel, dev_pod, force, discard_edits,
        output_dir):
    """Write overlays/NAME/ (kustomization, train.yaml and patches for one project) and overlays/NAME.results/
    (a CPU-only pod for copying files to and from the volume).

    \b
    Example:
      nautilus new myproject --namespace gp-engine-lab --gpus 2 --gpu-product NVIDIA-A10
      nautilus new lrsweep --namespace gp-engine-lab --gpus 1 --sweep train.lr=1e-4,2e-4 --parallel 2
      kubectl apply -k overlays/myproject -l 'nautilus.io/stage in (storage,config,data)'
      kubectl apply -k overlays/myproject    # once the data Job has completed (README step 4)
    """
    policy = nrp_policy()
    gpus = options.count("--gpus", gpus, 0, policy["workloads"]["job"]["max_gpus_per_pod"], "ask for whole GPUs, e.g. --gpus 1")
    sized = sizing.train(gpus)  # measured defaults, scaled by the GPU count; explicit options win
    cpu, memory, shm = cpu or sized["cpu"], memory or sized["memory"], shm or sized["shm"]
    output_dir = output_dir if output_dir is not None else repo.overlays()
    own_image = image is None  # the repository's own image (its content tag), not one named with --image
    image, image_warning = (image, None) if image else default_image()
    project = options.Project(
        name=name, namespace=namespace,
        gpus=gpus,
        gpu_products=tuple(gpu_products), gpu_resource=gpu_resource, gpu_quota=gpu_quota, priority_class=priority_class, cpu=cpu, memory=memory,
        shm=shm, scratch=scratch, storage=storage, storage_class=storage_class, image=image, dataset=dataset,
        nodes=options.count("--nodes", nodes, 1, policy["workloads"]["job"]["max_jobs_at_once"], "use --nodes 1 or more"),
        dev_pod=dev_pod, image_pull_secret=image_pull_secret, sweep=tuple(sweep),
        parallel=None if parallel is None else options.count("--parallel", parallel, 1, MAX_VARIANTS,
                                                                  "run 1 or more variants at once, e.g. --parallel 2"),
        allow_unknown_product=allow_unknown_product)
    options.check(project, policy)
    check_parent(output_dir)
    dev, results = f"{name}.dev", f"{name}.results"
    writers = {name: lambda folder: overlay.overlay(project, policy, folder, output_dir),
               results: lambda folder: overlay.results_overlay(project, folder, output_dir)}
    if dev_pod:
        writers[dev] = lambda folder: overlay.dev_overlay(project, policy, folder, output_dir)
    for folder in writers:
        if os.path.lexists(output_dir / folder) and not force:
            raise UsageError(f"{output_dir / folder} already exists", "pass --force to replace it")
    check_targets(output_dir, writers)
    copies = {folder: written.keep_copy(folder) for folder in edited_folders(output_dir, writers, discard_edits)}
    replace_folders(output_dir, {folder: recorded(write) for folder, write in writers.items()})
    for folder, copy in copies.items():
        click.echo(f"note: replaced the edited {folder}; its files as they were are in {copy}", err=True)
    if image_warning:
        click.echo(image_warning, err=True)
    stale = own_image and not image_warning and published.uncommitted_warning(repo.find())
    if stale:
        click.echo(stale, err=True)
    modes = policy["storage_classes"][storage_class]
    if "ReadWriteMany" not in modes:
        click.echo(f"warning: {storage_class} is ReadWriteOnce: the data and train Jobs cannot use it at once on "
                   "different nodes; run the data stage to completion first", err=True)
    if not dev_pod and (output_dir / dev).is_dir():  # it may manage a running pod: only `kubectl delete -k` on it stops that
        click.echo(f"note: kept {output_dir / dev}; once no dev pod runs (kubectl delete -k {output_dir / dev} "
                   f"--ignore-not-found), remove the folder, or pass --dev-pod to rewrite it", err=True)
    click.echo(f"wrote {', '.join(str(output_dir / folder) for folder in writers)}")


def recorded(write):
    """A folder writer that also records what it wrote (scaffold/written.py)."""
    def write_and_record(folder: Path) -> None:
        write(folder)
        written.record(folder)
    return write_and_record


def edited_folders(output_dir: Path, writers: dict, discard_edits: bool) -> list[Path]:
    """The folders about to be replaced that hold edits; refused unless discard_edits."""
    edited = {folder: written.edits(output_dir / folder) for folder in writers if (output_dir / folder).is_dir()}
    edited = {folder: files for folder, files in edited.items() if files}
    if edited and not discard_edits:
        listing = " and ".join(f"{output_dir / folder} ({', '.join(files)})" for folder, files in edited.items())
        raise UsageError(f"files edited since nautilus wrote them would be lost: {listing}",
                         "save what you need (git commit, or a copy), then add --discard-edits (a copy of each folder "
                         f"is kept in {output_dir / written.DISCARDED})")
    return [output_dir / folder for folder in edited]


def default_image() -> tuple[str, str | None]:
    """The image this repository publishes (generator/core/published_image.py), else the template's and a warning."""
    here = repo.find()
    found = published.image(here) if here else None
    if found:
        found.check()  # an invalid derived name is blamed on its source, not on --image
        return str(found), None
    return _DEFAULTS["image"], (f"warning: no image of this repository (no GitHub remote `origin` or {published.VARIABLE}, "
                                f"or no committed trainer/): wrote the template's {_DEFAULTS['image']}; pass --image to choose")


@click.command(short_help="Write the Kustomize bases (base/) and an empty overlays/ into another repository.")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing base/ folder.")
def init(directory, force):
    """Write the Kustomize bases (base/) and an empty overlays/ into another repository.

    \b
    Example:
      nautilus init ../my-research-repo
      cd ../my-research-repo && nautilus new myproject --namespace gp-engine-lab
    """
    check_parent(directory)
    if os.path.lexists(directory / "base") and not force:
        raise UsageError(f"{directory / 'base'} already exists", "pass --force to replace it")
    check_targets(directory, ["base"])
    here = repo.find()
    source = here / "base" if here and (here / "base").is_dir() else repo.PACKAGED_BASE
    writers = {"base": lambda folder: shutil.copytree(source, folder, dirs_exist_ok=True)}
    if not (directory / "overlays").exists():
        writers["overlays"] = lambda folder: (folder / ".gitkeep").touch()
    replace_folders(directory, writers)
    click.echo(f"wrote {directory / 'base'} and {directory / 'overlays'}")
