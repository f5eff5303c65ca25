"""`nautilus examples remove`: a fork removes the template's example overlays (overlays/examples.yaml lists them)
in one command; folders with edits nautilus did not write are refused unless --discard-edits (a copy is kept)."""
import shutil

import click

from generator.core import examples, repo
from generator.scaffold import written
from trainer.errors import UsageError

KEEP = ".gitkeep"


@click.group(short_help="The template's example overlays (overlays/examples.yaml): remove them from a fork.")
def examples_group():
    """The template's example overlays, listed in overlays/examples.yaml. A fork's report leaves them out of its
    totals and `validate --all` leaves out their notes until they are removed.

    \b
    Example:
      nautilus examples remove
      git add -A overlays tests && git commit -m "Remove the template's example overlays"
    """


def _edited(folders) -> dict:
    return {folder: files for folder in folders if (files := written.edits(folder))}


def _keep_recipe(listing) -> tuple[str, str]:
    """overlays/examples.yaml moved to tests/examples.yaml (the tests rebuild the examples from it); removed
    where the repository has no tests/. Returns what became of it and the folders to commit."""
    tests = repo.root() / "tests"
    if not listing.exists() or not tests.is_dir():
        listing.unlink(missing_ok=True)
        return f"removed {repo.relative(listing)}", "overlays"
    listing.replace(tests / examples.LIST)
    moved = f"moved {repo.relative(listing)} to {repo.relative(tests / examples.LIST)}, which the tests rebuild them from"
    return moved, "overlays tests"


@examples_group.command(short_help="Remove the example overlays; overlays/examples.yaml moves to tests/.")
@click.option("--discard-edits", is_flag=True, help="Remove edited examples too, keeping a copy of each in overlays/.discarded/.")
def remove(discard_edits):
    """Remove every folder overlays/examples.yaml lists (NAME, NAME.results, NAME.dev), then move the list to
    tests/examples.yaml: the tests of the template rebuild the examples from it in a temporary copy."""
    overlays = repo.overlays()
    present = [folder for folder in examples.folders(overlays) if folder.is_dir()]
    listing = overlays / examples.LIST
    if not present and not listing.exists():
        click.echo("no example overlays to remove")
        return
    edited = _edited(present)
    if edited and not discard_edits:
        names = " and ".join(f"{repo.relative(f)} ({', '.join(files)})" for f, files in edited.items())
        raise UsageError(f"example overlays edited since nautilus wrote them: {names}",
                         "to keep one as your project, delete its entry from overlays/examples.yaml first; "
                         f"else add --discard-edits (a copy is kept in {repo.relative(overlays / written.DISCARDED)})")
    for folder in present:
        if folder in edited:
            written.keep_copy(folder)
        shutil.rmtree(folder)
    recipe, changed = _keep_recipe(listing)
    if not any(p.name != written.DISCARDED for p in overlays.iterdir()):
        (overlays / KEEP).write_text("")  # git keeps no empty folder: a clone still has overlays/ for `nautilus new`
    removed = ", ".join(repo.relative(f) for f in present)
    click.echo(f"removed {removed or 'no folder'}; {recipe}; commit it: "
               f"git add -A {changed} && git commit -m \"Remove the template's example overlays\"")
