"""Shared by the manifest tests: run `nautilus`, render with the real kustomize, check with kubeconform -strict."""
import atexit
import contextlib
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from click.testing import CliRunner
from ruamel.yaml import YAML

from generator.policy import kubeconform
from generator.core.downward import environment as downward_env  # noqa: F401  (the tests' name for it)
from generator.cli import main
from generator.render.kustomize import render
from generator.core.tools import find_tool

REPO = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.33.0"


RECIPES = [REPO / "overlays" / "examples.yaml", REPO / "tests" / "examples.yaml"]  # the second once `nautilus examples remove` ran


def examples() -> dict[str, list[str]]:
    """The template's example overlays: name -> the `nautilus new` arguments that wrote it (overlays/examples.yaml,
    or tests/examples.yaml where `nautilus examples remove` moved it). Tests check these; a user's own overlays
    beside them are checked by `nautilus validate --all` (CI's review job)."""
    listing = next((path for path in RECIPES if path.is_file()), None)
    return (YAML(typ="safe").load(listing.read_text()) or {}) if listing else {}


def working_copy(folder: Path) -> Path:
    """The working tree copied into folder without git, caches and outputs; .venv and .tools linked, not copied."""
    shutil.copytree(REPO, folder, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".tools", ".cache", "__pycache__", ".pytest_cache",
                                                  "runs", "build", "results", ".whl"))
    for tools in (".venv", ".tools"):
        if (REPO / tools).exists():
            (folder / tools).symlink_to((REPO / tools).resolve())
    return folder


@functools.cache
def examples_repo() -> Path:
    """The repository that holds the examples: REPO while they are committed, else a temporary copy of REPO with
    them written by their `nautilus new` commands, as the template has them (so the same tests check the same files)."""
    if RECIPES[0].is_file() or not examples():
        return REPO
    folder = working_copy(Path(tempfile.mkdtemp(prefix="nautilus-examples-")))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "overlays" / ".gitkeep").unlink(missing_ok=True)
    shutil.copy(RECIPES[1], folder / "overlays" / "examples.yaml")
    with contextlib.chdir(folder):
        for args in examples().values():
            result = nautilus("new", *args)
            assert result.exit_code == 0, f"nautilus new {' '.join(args)}: {result.output}"
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "the template with its examples")
    return folder


def example_folders() -> list[Path]:
    """Every folder the examples' commands write (NAME, NAME.results, and NAME.dev with --dev-pod), sorted."""
    names = {name for name, args in examples().items()} | {f"{n}.results" for n in examples()} | \
        {f"{n}.dev" for n, args in examples().items() if "--dev-pod" in args}
    return sorted(examples_repo() / "overlays" / name for name in names)


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Jane Doe", "-c", "user.email=jane@example.org", *args], cwd=folder,
                          capture_output=True, text=True, check=True).stdout


def make_fork(folder: Path, remote: str | None = None) -> Path:
    """A fork of the template as `git clone` leaves it (base/, schemas/, trainer/ and the example overlays of this
    working tree, committed on main), with `origin` at remote."""
    source = examples_repo()
    for part in ("base", "schemas", "trainer", *(f"overlays/{p.name}" for p in example_folders())):
        shutil.copytree(source / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "overlays").mkdir(parents=True, exist_ok=True)
    if (source / "overlays" / "examples.yaml").is_file():
        shutil.copy(source / "overlays" / "examples.yaml", folder / "overlays" / "examples.yaml")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "fork")
    if remote:
        git(folder, "remote", "add", "origin", remote)
    return folder


def nautilus(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def build(overlay: Path) -> list[dict]:
    return [doc for doc in YAML(typ="safe").load_all(render(overlay)) if doc]


RUN_HASH = re.compile(r"-[a-z0-9]{10}$")  # kustomize's content hash on a run's Job and Service (base/train/run-name.yaml)


def run_name(name: str) -> str:
    """A Job's or multinode Service's name without its run hash: horse2zebra-train-g4d8hg742c -> horse2zebra-train."""
    return RUN_HASH.sub("", name)


def by_kind_name(docs: list[dict]) -> dict[tuple[str, str], dict]:
    """Objects by (kind, name); Jobs and Services by their name without the run hash."""
    return {(doc["kind"], run_name(doc["metadata"]["name"]) if doc["kind"] in ("Job", "Service") else doc["metadata"]["name"]): doc
            for doc in docs}


def kubeconform_strict(overlay: Path) -> subprocess.CompletedProcess:
    """kubeconform -strict over the rendered overlay, offline, against kubernetes-validate's schemas."""
    text = render(overlay)
    docs = [doc for doc in YAML(typ="safe").load_all(text) if doc]
    with tempfile.TemporaryDirectory() as tmp:
        schemas = Path(tmp) / "schemas"
        schemas.mkdir()
        kubeconform.write_schemas({(d["apiVersion"], d["kind"]) for d in docs}, kubeconform.schema_dir(K8S_VERSION), schemas)
        manifest = Path(tmp) / "manifest.yaml"
        manifest.write_text(text)
        return subprocess.run([find_tool("kubeconform"), "-strict", "-summary", "-kubernetes-version", K8S_VERSION,
                               "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                               str(manifest)], capture_output=True, text=True)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones too) with its bytes: equal trees, equal dicts."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

