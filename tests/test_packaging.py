"""The CLI installed from a wheel (not editable), as a user installs it once and uses it in several clones:
it acts on the repository of the current directory, and carries schemas/ and base/ for where one has none."""
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kube_support import REPO, make_fork, tree

PYTHON = Path(sys.executable)


def run(*args, cwd: Path, check: bool = True, **env) -> subprocess.CompletedProcess:
    environment = {"PATH": f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
                   **env}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=environment, capture_output=True, text=True, check=check,
                          timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(clone A, the folder the wheel built from clone A is installed into with `pip install --target`)."""
    top = tmp_path_factory.mktemp("packaging")
    clone_a = make_fork(top / "clone-a", "https://github.com/nautilus-ml/nautilus-ml-template.git")
    for part in ("generator", "pyproject.toml"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy
        copy(REPO / part, clone_a / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    built = run(PYTHON, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", top / "dist",
                ".", cwd=clone_a, check=False)
    assert built.returncode == 0, f"{built.stderr}\nbuilding needs the setuptools pinned in requirements.txt: run `make setup`"
    wheel = next((top / "dist").glob("*.whl"))
    run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", top / "site", wheel, cwd=top)
    return clone_a, top / "site"


# The console script's code, with the trainer's heavy dependencies made unimportable: the CLI runs without them.
WITHOUT_TORCH = ("import sys\nfor name in ('torch', 'torchvision', 'numpy', 'PIL', 'tensorboard'): sys.modules[name] = None\n"
                 "sys.argv[0] = 'nautilus'\nfrom generator.cli import main\nmain()")


def nautilus(site: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    """`nautilus ARGS` from the installed wheel (-P: not from the current directory, which holds a generator/ too)."""
    assert (site / "bin" / "nautilus").is_file()
    return run(PYTHON, "-P", "-c", WITHOUT_TORCH, *args, cwd=cwd, check=False, PYTHONPATH=str(site))


def test_cli_pins_are_the_package_dependencies():
    pins = [line.split("==")[0] for line in (REPO / "requirements-cli.txt").read_text().splitlines() if "==" in line]
    dependencies = re.search(r"^dependencies = \[(.*)\]$", (REPO / "pyproject.toml").read_text(), re.M)[1]
    assert sorted(re.findall(r'"([^"]+)"', dependencies)) == sorted(pins) and "torch" not in pins


def test_the_wheel_carries_the_cli_and_the_templates_data_but_not_torch(installed):
    _, site = installed
    wheel = next(site.parent.glob("dist/*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("schemas/policy.yaml", "schemas/rules.yaml", "schemas/train-config.schema.json",
                 "base/train/job.yaml", "base/components/dev-pod/pod.yaml", "scaffold/templates/overlay/kustomization.yaml",
                 "scaffold/defaults.yaml"):
        assert f"generator/{path}" in names, path
    packages = {str(p.parent.relative_to(REPO)) for top in ("generator", "trainer") for p in (REPO / top).rglob("__init__.py")}
    assert {f"{p}/__init__.py" for p in packages} <= names, "a package of the checkout is missing from pyproject.toml"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not [r for r in requires if r.lower().startswith(("torch", "numpy", "pillow"))], requires
    where = run(PYTHON, "-P", "-c", "import generator.core.repo as r; print(r.__file__); print(r.PACKAGED_SCHEMAS); "
                "print(r.PACKAGED_BASE)", cwd=site.parent, PYTHONPATH=str(site)).stdout.split()
    assert all(Path(p).is_relative_to(site) and Path(p).exists() for p in where), where  # not the checkout's
    assert tree(Path(where[1])) == tree(REPO / "schemas") and tree(Path(where[2])) == tree(REPO / "base")


def test_new_validate_and_report_act_on_the_clone_you_are_in(installed, tmp_path):
    clone_a, site = installed
    clone_b = make_fork(tmp_path / "clone-b", "git@github.com:JaneDoe/Cells.git")
    result = nautilus(site, "new", "foo", "--namespace", "gp-engine-lab", "--dev-pod", cwd=clone_b / "overlays")
    assert result.returncode == 0, result.stderr
    assert (clone_b / "overlays/foo/kustomization.yaml").is_file() and (clone_b / "overlays/foo.dev").is_dir()
    assert not (clone_a / "overlays/foo").exists()
    assert "newName: ghcr.io/janedoe/cells/trainer" in (clone_b / "overlays/foo/kustomization.yaml").read_text()
    checked = nautilus(site, "validate", "--all", "--format", "json", cwd=clone_b)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "overlays/foo" in checked.stdout and "0 error(s), 0 warning(s)" in checked.stderr
    reported = nautilus(site, "report", "--all", cwd=clone_b)
    assert reported.returncode == 0 and "foo" in reported.stdout, reported.stderr


def test_outside_a_repository_exit_2_and_init_uses_the_packaged_bases(installed, tmp_path):
    _, site = installed
    outside = tmp_path / "outside"
    outside.mkdir()
    for args in (["new", "foo", "--namespace", "ns"], ["validate", "--all"], ["report", "--all"]):
        result = nautilus(site, *args, cwd=outside)
        assert result.returncode == 2 and result.stdout == "", result
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "not inside a repository" in result.stderr
    assert list(outside.iterdir()) == []
    (outside / "research").mkdir()
    made = nautilus(site, "init", "research", cwd=outside)
    assert made.returncode == 0, made.stderr
    assert tree(outside / "research/base") == tree(REPO / "base")


def test_a_repository_with_rules_newer_than_the_cli_gets_one_line(installed, tmp_path):
    _, site = installed
    clone = make_fork(tmp_path / "newer", "https://github.com/JaneDoe/Cells.git")
    with (clone / "schemas/rules.yaml").open("a") as table:
        table.write("- {id: gpu-future, severity: error, check: code, target: pod, page: docs/rules.md, why: x, fix: y}\n")
    result = nautilus(site, "validate", "--all", cwd=clone)
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.startswith("error: schemas/rules.yaml has the rule gpu-future") and result.stderr.count("\n") == 1

