"""trainer/Dockerfile, checked without a Docker engine: hadolint, then the essentials the manifests rely on.

The file builds two variants (build argument VARIANT): the released CUDA image and the CPU smoke image that
the kind end-to-end run loads. Each variant's file tree is rebuilt from the Dockerfile's own COPY
instructions in a temporary folder, so the test asks the real package whether the Jobs' commands exist
where that variant puts them.
"""
import pytest
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "trainer" / "Dockerfile"
CONTEXTS = {None: REPO / "trainer", "schemas": REPO / "schemas"}  # build context + buildx named contexts
BUILD_TOOLS = {"gcc", "g++", "make", "build-essential", "cmake", "git", "clang", "python3-dev"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n(?:\s*#[^\n]*\n)*", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def env(pairs) -> dict[str, str]:
    found = {}
    for keyword, rest in pairs:
        if keyword == "ENV":
            found.update(word.split("=", 1) for word in shlex.split(rest))
    return found


def ignored(relative: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, p.removeprefix("**/"))
               or any(fnmatch.fnmatch(part, p.removeprefix("**/")) for part in Path(relative).parts)
               for p in patterns)


def image_tree(root: Path, pairs) -> Path:
    """Replay the COPY instructions (sources from the build context or a named context) under root."""
    ignore_file = CONTEXTS[None] / ".dockerignore"
    patterns = [p for p in ignore_file.read_text().splitlines() if p and not p.startswith("#")]
    for keyword, rest in pairs:
        if keyword != "COPY":
            continue
        words = shlex.split(rest)
        context = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        *sources, dest = [w for w in words if not w.startswith("--")]
        for source in sources:
            src = CONTEXTS[context] / source
            target = root / dest.lstrip("/")
            if src.is_dir():
                for path in src.rglob("*"):
                    rel = path.relative_to(src).as_posix()
                    if path.is_file() and not ignored(rel, patterns):
                        (target / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, target / rel)
            else:
                out = target / src.name if dest.endswith("/") else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out)
    return root


def load(path: Path):
    return list(YAML(typ="safe").load_all(path.read_text()))


def pod_specs():
    for manifest in sorted(REPO.glob("base/*/*.yaml")) + sorted(REPO.glob("base/components/*/*.yaml")):
        for doc in load(manifest):
            if isinstance(doc, dict) and doc.get("kind") in {"Job", "Pod"} and (doc["kind"] == "Pod" or "template" in doc["spec"]):
                yield manifest, doc["spec"]["template"]["spec"] if doc["kind"] == "Job" else doc["spec"]


def job_modules() -> set[str]:
    """Every `python -m X` / `torchrun ... -m X` module the base manifests run, plus inference (conventions) and sweeps."""
    modules = {"trainer.translate", "trainer.sweep", "trainer.compare"}  # sweep: component sweep runs the stages through it
    for _, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            words = [str(w) for w in container.get("command", []) + container.get("args", [])]
            modules.update(words[i + 1] for i, w in enumerate(words[:-1]) if w == "-m")
    return modules


def stages(pairs) -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions by its name (`FROM image AS name`); the FROM itself comes first."""
    found: dict[str, list] = {}
    for keyword, rest in pairs:
        if keyword == "FROM":
            current = found.setdefault(rest.split()[-1], [])
        if found:
            current.append((keyword, rest))
    return found


def default_variant(pairs) -> str:
    return next(rest.split("=", 1)[1] for keyword, rest in pairs if keyword == "ARG" and rest.startswith("VARIANT="))


PAIRS = instructions(DOCKERFILE.read_text())
STAGES = stages(PAIRS)
VARIANTS = {"cuda", "cpu"}


def variant(name: str) -> list[tuple[str, str]]:
    """What one variant runs: its base stage, then the shared stage built on it."""
    return STAGES[f"base-{name}"] + STAGES["trainer"][1:]


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_floating_base(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace(
        re.search(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M).group(1), "pytorch/pytorch:latest"))
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "DL3007" in result.stdout


def test_two_variants_share_everything_but_the_base_and_torch():
    assert list(STAGES) == ["base-cuda", "base-cpu", "trainer"] and default_variant(PAIRS) == "cuda"
    assert STAGES["trainer"][0] == ("FROM", "base-${VARIANT} AS trainer"), "the shared stage builds on the chosen base"
    assert len(STAGES["base-cuda"]) == 1, "the CUDA base adds nothing: torch comes with the image"
    assert [keyword for keyword, _ in STAGES["base-cpu"]] == ["FROM", "COPY", "RUN"], "the CPU base only installs torch"
    copy_source, copy_target = shlex.split(STAGES["base-cpu"][1][1])
    assert copy_source == "requirements-cpu.txt" and f"-r {copy_target}" in STAGES["base-cpu"][2][1]
    # no stage but the shared one touches the trainer's code, environment, user or entry point
    for name in ("base-cuda", "base-cpu"):
        assert not {"ENV", "USER", "WORKDIR", "CMD", "ENTRYPOINT"} & {k for k, _ in STAGES[name]}, name


def test_bases_are_pinned_and_bring_the_pinned_torch():
    pins = dict(re.findall(r"^(torch|torchvision)==(\S+)", (REPO / "requirements.txt").read_text(), re.M))
    cuda = STAGES["base-cuda"][0][1].split()[0]
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-cudnn\d+-runtime@sha256:[0-9a-f]{64}", cuda)
    assert match, f"base {cuda!r} must be a PyTorch runtime tag pinned by digest"
    assert match.group(1) == pins["torch"]
    cpu = STAGES["base-cpu"][0][1].split()[0]
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", cpu), f"base {cpu!r} must be pinned by digest"
    cpu_pins = (REPO / "trainer" / "requirements-cpu.txt").read_text()
    assert dict(re.findall(r"^(torch|torchvision)==(\S+)\+cpu$", cpu_pins, re.M)) == pins, "CPU wheels = the same versions"
    assert re.search(r"^--index-url https://download\.pytorch\.org/whl/cpu$", cpu_pins, re.M)
    image_pins = (REPO / "trainer" / "requirements.txt").read_text()
    assert not re.search(r"^(torch|torchvision)\b", image_pins, re.M), "torch comes from the base stage"
    assert all("==" in line for line in image_pins.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_runs_as_the_manifests_user_with_home_on_scratch(name):
    pairs = variant(name)
    users = [rest for keyword, rest in pairs if keyword == "USER"]
    assert users and users[-1] == "1000:1000"
    checked = set()
    for manifest, spec in pod_specs():
        context = spec.get("securityContext") or {}  # a component's patch may leave it to the base
        if "runAsUser" in context:
            assert f"{context['runAsUser']}:{context['runAsGroup']}" == users[-1], manifest
            checked.add(manifest.relative_to(REPO).as_posix())
    assert {"base/data/job.yaml", "base/train/job.yaml"} <= checked
    variables = env(pairs)
    assert variables["HOME"] == "/scratch" and variables["PYTHONUNBUFFERED"] == "1"
    caches = {k: v for k, v in variables.items() if "CACHE" in k or k.endswith("_HOME") or k == "MPLCONFIGDIR"}
    assert len(caches) >= 4 and all(v.startswith("/scratch/") for k, v in caches.items() if k != "HOME")


def test_no_build_tools_and_no_pip_cache():
    runs = " && ".join(rest for keyword, rest in PAIRS if keyword == "RUN")
    for command in re.split(r"&&|;|\|\|", runs):
        words = shlex.split(command)
        if words[:2] in (["apt-get", "install"], ["apk", "add"]) or words[:1] in (["yum"], ["dnf"]):
            assert not BUILD_TOOLS & set(words), f"build tools installed: {command.strip()}"
        if words[:2] == ["pip", "install"]:
            assert "--no-cache-dir" in words and "--only-binary=:all:" in words, command


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_job_commands_exist_in_the_image(tmp_path, name):
    pairs = variant(name)
    root = image_tree(tmp_path / "image", pairs)
    assert not list(root.rglob("__pycache__")) and not (root / "opt/nautilus/trainer/Dockerfile").exists()
    variables = env(pairs)
    modules = job_modules()
    assert {"trainer.prepare", "trainer.train", "trainer.translate"} <= modules
    # `python -m X` runs module X, or X/__main__.py when X is a package.
    probe = ("import importlib.util as u, sys\n"
             "from trainer.config import schema_path\n"
             "def runnable(m):\n"
             "    spec = u.find_spec(m)\n"
             "    return spec and (u.find_spec(m + '.__main__') if spec.submodule_search_locations else spec)\n"
             "print(schema_path(), schema_path('sweep.schema.json')); print([m for m in sys.argv[1:] if not runnable(m)])\n")
    pythonpath = str(root / variables["PYTHONPATH"].lstrip("/"))
    result = subprocess.run([sys.executable, "-I", "-B", "-c", f"import sys; sys.path.insert(0, {pythonpath!r})\n" + probe,
                             *sorted(modules)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema, missing = result.stdout.splitlines()
    assert missing == "[]", f"modules the Jobs run but the image lacks: {missing}"
    assert schema.split() == [str(root / "opt/nautilus/trainer" / name) for name in ("train-config.schema.json", "sweep.schema.json")], \
        "the loader must find the copied schemas"


def test_torchrun_comes_with_the_base_image():
    # torchrun is torch's console script: present wherever the pinned torch is installed.
    commands = {str(c["command"][0]) for _, spec in pod_specs() for c in spec["containers"] if c.get("command")}
    assert "torchrun" in commands
    assert shutil.which("torchrun", path=str(Path(sys.executable).parent))
