"""The GitHub Actions workflows, checked statically (GitHub cannot run here).

Three layers: actionlint (with shellcheck) and check-jsonschema's GitHub workflow schema for what any workflow
must get right, and `check_workflow` below for this repository's rules: least privilege, timeouts, pinned
actions, no pull-request code under a write token, and only real `make` targets and `nautilus` commands.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from ruamel.yaml import YAML

from click.testing import CliRunner

from generator.cli import main as nautilus_cli
from kube_support import example_folders, git, make_fork, run_name

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
VENV_BIN = Path(sys.executable).parent
TRIGGERS_WITH_WRITE_TOKEN = {"pull_request_target", "workflow_run"}  # run with the base repo's token
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(?:[0-9a-f]{40}|v\d+\.\d+\.\d+)$")  # full SHA, else exact version
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;"}
REDIRECTS = {">", ">>", "<", "<<", ">&", "<&", ">|"}


def load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def make_targets(makefile: Path = REPO / "Makefile") -> set[str]:
    """Explicit targets of the Makefile (rules whose names are plain words; not variable assignments)."""
    targets = set()
    for line in makefile.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?![=])", line)
        if match:
            targets.update(match.group(1).split())
    return targets - {".PHONY", ".DEFAULT_GOAL"}


def simple_commands(script: str):
    """Yield each simple command of a bash script as a list of words (assignments, redirections dropped)."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words, skip = [], False
        for token in list(lexer) + [";"]:
            if skip:
                skip = False
            elif token in REDIRECTS:
                skip = True
            elif token in SEPARATORS:
                if words:
                    yield words
                words = []
            elif words or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                words.append(token)


def run_scripts(workflow: dict):
    for job_name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if "run" in step:
                yield job_name, step["run"]


def check_make(words: list[str], targets: set[str]) -> list[str]:
    wanted = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return [f"`make {t}`: the Makefile has no target {t!r}" for t in wanted if t not in targets]


def check_nautilus(words: list[str], group: click.Group = nautilus_cli) -> list[str]:
    """The subcommand exists, every option is one of its options, and literal choices are allowed values."""
    if len(words) < 2:
        return ["`nautilus` without a command"]
    command = group.commands.get(words[1])
    if command is None:
        return [f"`nautilus {words[1]}` is not a command (commands: {', '.join(sorted(group.commands))})"]
    if isinstance(command, click.Group):  # nautilus gitops apply ...: check the subcommand the same way
        return [p.replace("`nautilus ", f"`nautilus {words[1]} ", 1) for p in check_nautilus(words[1:], command)]
    options = {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}
    options["--help"] = options["-h"] = click.Option(["--help"], is_flag=True)
    problems, args = [], iter(words[2:])
    for word in args:
        if not word.startswith("-") or word == "-":
            continue
        name, has_value, value = word.partition("=")
        option = options.get(name)
        if option is None:
            problems.append(f"`nautilus {words[1]}` has no option {name} (options: {', '.join(sorted(options))})")
            continue
        if not option.is_flag and not has_value:
            value = next(args, "")
        if isinstance(option.type, click.Choice) and "$" not in value and value not in option.type.choices:
            problems.append(f"`nautilus {words[1]} {name} {value}`: {value!r} is not one of {list(option.type.choices)}")
    return problems


def check_workflow(path: Path, targets: set[str] | None = None) -> list[str]:
    """This repository's rules for one workflow file; each problem is a line naming the file, job and fix."""
    workflow = load(path)
    targets = make_targets() if targets is None else targets
    problems = []

    def problem(where: str, message: str):
        problems.append(f"{path.name}: {where}: {message}")

    top = workflow.get("permissions")
    if top is None:
        problem("workflow", "no top-level permissions; set `permissions: {}` and raise them per job")
    elif top == "write-all" or (isinstance(top, dict) and "write" in top.values()):
        problem("workflow", f"top-level permissions {top!r} grant write to every job; raise them per job instead")
    triggers = workflow.get("on") or {}
    triggers = {triggers} if isinstance(triggers, str) else set(triggers)
    privileged = triggers & TRIGGERS_WITH_WRITE_TOKEN

    for name, job in (workflow.get("jobs") or {}).items():
        where = f"job {name!r}"
        if "timeout-minutes" not in job:
            problem(where, "no timeout-minutes (a hung job would hold a runner for 6 hours)")
        if "permissions" not in job:
            problem(where, "no explicit permissions; list the scopes this job needs")
        elif job["permissions"] == "write-all":
            problem(where, "permissions: write-all; grant only the scopes this job needs")
        for step in job.get("steps") or []:
            uses = step.get("uses", "")
            if uses and not uses.startswith(("./", "docker://")) and not PINNED.match(uses):
                problem(where, f"`uses: {uses}` is not pinned; pin a full commit SHA (or an exact version)")
            ref = " ".join(str(step.get("with", {}).get(k, "")) for k in ("ref", "repository"))
            if privileged and uses.startswith("actions/checkout@") and re.search(r"head|refs/pull|merge", ref):
                problem(where, f"{'/'.join(sorted(privileged))} workflow checks out the pull request head "
                               f"({ref.strip()}): its code would run with a write token")
            if "${{ secrets." in step.get("run", "").replace("${{secrets.", "${{ secrets."):
                problem(where, "a secret is expanded into a run script (it can leak into the log); pass it via env")

    for name, script in run_scripts(workflow):
        try:
            commands = list(simple_commands(script))
        except ValueError as err:
            problem(f"job {name!r}", f"cannot parse the run script: {err}")
            continue
        for words in commands:
            program = Path(words[0]).name
            if program == "make":
                for message in check_make(words, targets):
                    problem(f"job {name!r}", message)
            elif program == "nautilus":
                for message in check_nautilus(words):
                    problem(f"job {name!r}", message)
    return problems


def commands_run(path: Path, program: str) -> list[list[str]]:
    return [w for _, s in run_scripts(load(path)) for w in simple_commands(s) if Path(w[0]).name == program]


def dump(data: dict, path: Path) -> Path:
    yaml = YAML()
    yaml.width = 4096
    with path.open("w") as f:
        yaml.dump(data, f)
    return path


# --- the real workflows ---------------------------------------------------------------------------------

def test_the_workflows_are_there():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "report-comment.yml", "image.yml", "e2e.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_follows_the_rules(path):
    assert check_workflow(path) == []


def test_ci_runs_the_readme_commands_the_checker_sees():
    # Guards the checker itself: if command extraction broke, every workflow would pass vacuously.
    ci = REPO / ".github" / "workflows" / "ci.yml"
    assert {tuple(w[1:]) for w in commands_run(ci, "make")} >= {("setup",), ("test",)}
    nautilus = {tuple(w[1:3]) for w in commands_run(ci, "nautilus")}
    assert ("validate", "--all") in nautilus and ("report", "--all") in nautilus


def requirement_lines(path: Path) -> list[str]:
    """Every requirement of a pip requirements file, following -r includes."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            lines += requirement_lines(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def test_review_job_installs_the_cli_without_torch():
    ci = load(REPO / ".github" / "workflows" / "ci.yml")
    commands = [w for _, s in run_scripts({"jobs": {"review": ci["jobs"]["review"]}}) for w in simple_commands(s)]
    assert ["make", "tools"] in commands and not [w for w in commands if w[0] == "make" and w[1:] != ["tools"]]
    installs = [w for w in commands if Path(w[0]).name == "pip" and w[1] == "install"]
    assert installs, "the review job installs nothing"
    for words in installs:
        files = [words[i + 1] for i, w in enumerate(words) if w == "-r"]
        assert files == ["requirements-cli.txt"] and "." in words and "-e" not in words, words
        wanted = requirement_lines(REPO / files[0])
        assert wanted and not [r for r in wanted if re.match(r"(torch|torchvision|numpy)\b", r)], wanted


def test_the_control_plane_build_is_cached_on_its_pins():
    ci = load(REPO / ".github" / "workflows" / "ci.yml")
    steps = ci["jobs"]["test"]["steps"]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    key = cache["with"]["key"]
    assert all(f"'tools/controlplane/{f}'" in key for f in ("go.mod", "go.sum", "build.sh")) and "GO_VERSION" in key
    build = (REPO / "tools" / "controlplane" / "build.sh").read_text()
    binaries = re.search(r"^binaries=\((.*)\)$", build, re.M)[1].split()
    assert set(cache["with"]["path"].split()) == {f".tools/bin/{b}" for b in binaries} | {".tools/versions/controlplane"}
    assert steps.index(cache) < next(i for i, s in enumerate(steps) if s.get("run") == "make test")


def test_the_review_job_keeps_the_render_cache_between_runs():
    """Restored before validate, saved after the report (also when validation found problems), keyed on the
    pinned tools and the overlays' inputs; entries check themselves (generator/render/cache.py)."""
    from generator.render.cache import FOLDER
    steps = load(REPO / ".github" / "workflows" / "ci.yml")["jobs"]["review"]["steps"]
    names = [s.get("uses", "").split("@")[0] or s.get("name", s.get("run", "")) for s in steps]
    restore, save = names.index("actions/cache/restore"), names.index("actions/cache/save")
    validate = next(i for i, s in enumerate(steps) if "nautilus validate" in s.get("run", ""))
    report = next(i for i, s in enumerate(steps) if "nautilus report" in s.get("run", ""))
    assert restore < validate < report < save
    assert steps[restore]["with"]["path"] == steps[save]["with"]["path"] == str(FOLDER)
    assert "Makefile" in steps[restore]["with"]["key"] and "overlays/**" in steps[restore]["with"]["key"]
    assert steps[restore]["with"]["restore-keys"] in steps[restore]["with"]["key"]
    assert "!cancelled()" in steps[save]["if"]
    assert steps[restore]["uses"].split("@")[1] == steps[save]["uses"].split("@")[1]


def test_report_comment_never_touches_pull_request_code():
    workflow = load(REPO / ".github" / "workflows" / "report-comment.yml")
    assert set(workflow["on"]) == {"workflow_run"}
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert not any(s.get("uses", "").startswith("actions/checkout@") for s in steps)
    assert not [w for _, s in run_scripts(workflow) for w in simple_commands(s)
                if Path(w[0]).name in {"make", "nautilus", "python", "pip", "bash", "sh", "git"}]


IMAGE_WORKFLOW = REPO / ".github" / "workflows" / "image.yml"


def workflow_image(fork: Path, repository: str, variable: str, output: Path) -> str:
    """name:tag as image.yml's step `image` computes them in a checkout of fork, run by bash as GitHub runs it."""
    step = next(s for s in load(IMAGE_WORKFLOW)["jobs"]["publish"]["steps"] if s.get("id") == "image")
    repository_variable = {"TRAINER_IMAGE": "${{ vars.TRAINER_IMAGE }}"}  # the one repository variable
    review = load(REPO / ".github" / "workflows" / "ci.yml")["jobs"]["review"]
    assert step["env"] == repository_variable and review["env"] == repository_variable
    env = {"PATH": os.environ["PATH"], "GITHUB_REPOSITORY": repository, "GITHUB_OUTPUT": str(output), "TRAINER_IMAGE": variable}
    subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c", step["run"]], cwd=fork, env=env, check=True,
                   capture_output=True, text=True)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["host"] == values["name"].split("/")[0]
    return f"{values['name']}:{values['tag']}"


@pytest.mark.parametrize("repository, remote, variable, name", [
    ("JaneDoe/Cells", "https://github.com/JaneDoe/Cells.git", "", "ghcr.io/janedoe/cells/trainer"),
    ("nautilus-ml/nautilus-ml-template", "git@github.com:nautilus-ml/nautilus-ml-template.git", "",
     "ghcr.io/nautilus-ml/nautilus-ml-template/trainer"),
    ("Lab-X/My.Repo", "ssh://git@github.com/Lab-X/My.Repo", "", "ghcr.io/lab-x/my.repo/trainer"),
    ("JaneDoe/Cells", "https://github.com/JaneDoe/Cells", "gitlab-registry.nrp-nautilus.io/Lab/Cells/trainer",
     "gitlab-registry.nrp-nautilus.io/lab/cells/trainer"),
    ("JaneDoe/Cells", "https://GitHub.com/JaneDoe/Cells.git", "", "ghcr.io/janedoe/cells/trainer"),  # the host in any case
    ("JaneDoe/Cells", "git@GITHUB.COM:JaneDoe/Cells.git", "", "ghcr.io/janedoe/cells/trainer"),
])
def test_image_workflow_and_nautilus_new_agree(tmp_path, monkeypatch, repository, remote, variable, name):
    fork = make_fork(tmp_path / "fork", remote)
    pushed = workflow_image(fork, repository, variable, tmp_path / "github-output")
    monkeypatch.chdir(fork)
    monkeypatch.setenv("TRAINER_IMAGE", variable)
    result = CliRunner().invoke(nautilus_cli, ["new", "p", "--namespace", "ns"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    entry = load(fork / "overlays/p/kustomization.yaml")["images"][0]
    assert f"{entry['newName']}:{entry['newTag']}" == pushed
    assert pushed.startswith(f"{name}:src-")
    (fork / "trainer/README.md").write_text("other trainer code\n")
    git(fork, "commit", "-qam", "trainer change")
    assert workflow_image(fork, repository, variable, tmp_path / "again") != pushed  # the tag follows the code


@pytest.mark.parametrize("repository, remote, variable, source", [
    ("JaneDoe/.github", "https://github.com/JaneDoe/.github", "", ("repository name", "the git remote origin")),
    ("JaneDoe/Cells", "https://github.com/JaneDoe/Cells", "registry.example.org/lab cells/trainer",
     ("repository variable TRAINER_IMAGE", "TRAINER_IMAGE")),
    ("JaneDoe/Cells", "https://github.com/JaneDoe/Cells", "-lab/trainer", ("repository variable TRAINER_IMAGE", "TRAINER_IMAGE")),
    ("JaneDoe/Cells", "https://github.com/JaneDoe/Cells", "registry.example.org/" + "x" * 250,
     ("repository variable TRAINER_IMAGE", "TRAINER_IMAGE")),
])
def test_image_workflow_and_nautilus_new_refuse_the_same_invalid_names(tmp_path, monkeypatch, repository, remote,
                                                                       variable, source):
    fork = make_fork(tmp_path / "fork", remote)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        workflow_image(fork, repository, variable, tmp_path / "github-output")
    assert f"::error::the image name that the {source[0]}" in failed.value.stdout
    monkeypatch.chdir(fork)
    monkeypatch.setenv("TRAINER_IMAGE", variable)
    result = CliRunner().invoke(nautilus_cli, ["new", "p", "--namespace", "ns"])
    assert result.exit_code == 2 and f"error: the image name that {source[1]}" in result.output, result.output


def test_image_is_published_on_every_push_to_a_branch_and_on_demand():
    """Every branch of the repository (a pull request's trainer code runs before merging), never a fork's pull
    request, which only builds; an existing tag is not built again."""
    workflow = load(IMAGE_WORKFLOW)
    assert workflow["on"]["push"] == {"branches": ["**", "!dependabot/**"], "tags": ["v*.*.*"]}  # no paths filter: a fork's first push
    assert workflow["jobs"]["build"]["if"] == ("github.event_name == 'pull_request' && "
                                               "github.event.pull_request.head.repo.full_name != github.repository")
    assert workflow["jobs"]["build"]["steps"][-1]["with"]["push"] is False
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}  # never pull_request_target
    assert "workflow_dispatch" in workflow["on"]
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "github.event_name != 'pull_request'"
    steps = {s.get("id"): s for s in publish["steps"]}
    assert steps["meta"]["with"]["images"] == "${{ steps.image.outputs.name }}"
    assert "type=raw,value=${{ steps.image.outputs.tag }}" in steps["meta"]["with"]["tags"]
    assert steps["build"]["with"]["push"] is True and steps["build"]["if"] == "steps.published.outputs.found != 'true'"
    assert "nautilus-ml" not in IMAGE_WORKFLOW.read_text()  # nothing names one particular owner


def test_examples_pin_the_template_image():
    """The committed examples name the template's release (the fallback of `nautilus new`), the same in every fork."""
    default = load(REPO / "generator" / "scaffold" / "defaults.yaml")["image"]
    images = {}
    for folder in example_folders():
        for entry in load(folder / "kustomization.yaml").get("images") or []:
            images[folder.name] = f"{entry['newName']}:{entry['newTag']}"
    assert images and set(images.values()) <= {default}


# --- linters --------------------------------------------------------------------------------------------

def tool(name: str, *places: Path) -> str:
    found = shutil.which(name) or next((str(p / name) for p in places if (p / name).exists()), None)
    assert found, f"{name} is not installed: run `make setup`"
    return found


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    command = [tool("actionlint", REPO / ".tools" / "bin"), "-no-color", "-pyflakes=",
               "-shellcheck", tool("shellcheck", VENV_BIN), *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess:
    command = [tool("check-jsonschema", VENV_BIN), "--builtin-schema", schema, *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True)


def test_actionlint_passes():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_schema_passes():
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    result = check_jsonschema("vendor.dependabot", REPO / ".github" / "dependabot.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    # --offline: no GitHub API look-ups; the default persona, whose findings each need a fix or a justified ignore.
    command = [tool("zizmor", VENV_BIN), "--offline", "--no-progress", "--format=plain", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def test_zizmor_passes():
    result = zizmor(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_catches_an_injected_pull_request_title(tmp_path):
    broken = load(REPO / ".github" / "workflows" / "ci.yml")
    broken["jobs"]["test"]["steps"].append({"run": 'echo "${{ github.event.pull_request.title }}"'})
    result = zizmor(dump(broken, tmp_path / "ci.yml"))
    assert result.returncode != 0 and "template-injection" in result.stdout


def test_e2e_loads_the_cpu_variant_and_image_publishes_the_cuda_one():
    def builds(name):
        steps = [s for job in load(REPO / ".github" / "workflows" / name)["jobs"].values() for s in job["steps"]]
        return [s["with"] for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    e2e = builds("e2e.yml")
    assert [b.get("build-args") for b in e2e] == ["VARIANT=cpu"] and e2e[0]["load"] is True
    assert e2e[0]["cache-from"] != builds("image.yml")[0]["cache-from"], "the variants must not share a build cache"
    assert builds("image.yml") and all("VARIANT=cpu" not in str(b.get("build-args", "")) for b in builds("image.yml"))


def test_ci_cancels_superseded_pull_request_runs_only():
    for name in ("ci.yml", "e2e.yml"):
        concurrency = load(REPO / ".github" / "workflows" / name)["concurrency"]
        assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}", name


def test_dependabot_covers_actions_pip_and_docker():
    updates = load(REPO / ".github" / "dependabot.yml")["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"github-actions", "pip", "docker"}
    docker = next(u for u in updates if u["package-ecosystem"] == "docker")
    assert (REPO / docker["directory"].strip("/") / "Dockerfile").exists()


def test_actionlint_catches_script_injection(tmp_path):
    broken = load(REPO / ".github" / "workflows" / "ci.yml")
    broken["jobs"]["test"]["steps"].append({"run": 'echo "${{ github.event.pull_request.title }}"'})
    result = actionlint(dump(broken, tmp_path / "ci.yml"))
    assert result.returncode == 1 and "github.event.pull_request.title" in result.stdout


def test_workflow_schema_catches_a_misspelt_key(tmp_path):
    broken = load(REPO / ".github" / "workflows" / "ci.yml")
    broken["jobs"]["test"]["timeout_minutes"] = broken["jobs"]["test"].pop("timeout-minutes")
    result = check_jsonschema("vendor.github-workflows", dump(broken, tmp_path / "ci.yml"))
    assert result.returncode == 1 and "timeout_minutes" in result.stdout


# --- broken copies: each must fail with a message naming the problem ------------------------------------

def _drop_timeout(w):
    del w["jobs"]["test"]["timeout-minutes"]


def _write_all(w):
    w["jobs"]["test"]["permissions"] = "write-all"


def _write_all_on_top(w):
    w["permissions"] = "write-all"


def _no_job_permissions(w):
    del w["jobs"]["test"]["permissions"]


def _floating_tag(w):
    w["jobs"]["test"]["steps"][0]["uses"] = "actions/checkout@v4"


def _secret_in_script(w):
    w["jobs"]["test"]["steps"].append({"run": 'curl -H "Authorization: ${{ secrets.TOKEN }}" https://example.org'})


def _unknown_make_target(w):
    w["jobs"]["test"]["steps"].append({"run": "make deploy"})


def _unknown_command(w):
    w["jobs"]["review"]["steps"].append({"run": ".venv/bin/nautilus deploy overlays/x"})


def _unknown_option(w):
    w["jobs"]["review"]["steps"].append({"run": "nautilus validate --every"})


def _bad_choice(w):
    w["jobs"]["review"]["steps"].append({"run": "nautilus validate --all --format sarif > out.sarif"})


@pytest.mark.parametrize("breakage, expected", [
    (_drop_timeout, "job 'test': no timeout-minutes"),
    (_write_all, "job 'test': permissions: write-all"),
    (_write_all_on_top, "top-level permissions 'write-all'"),
    (_no_job_permissions, "job 'test': no explicit permissions"),
    (_floating_tag, "`uses: actions/checkout@v4` is not pinned"),
    (_secret_in_script, "a secret is expanded into a run script"),
    (_unknown_make_target, "`make deploy`: the Makefile has no target 'deploy'"),
    (_unknown_command, "`nautilus deploy` is not a command"),
    (_unknown_option, "`nautilus validate` has no option --every"),
    (_bad_choice, "'sarif' is not one of"),
], ids=lambda v: getattr(v, "__name__", "")[1:] or None)
def test_broken_ci_copy_fails(tmp_path, breakage, expected):
    workflow = load(REPO / ".github" / "workflows" / "ci.yml")
    breakage(workflow)
    problems = check_workflow(dump(workflow, tmp_path / "ci.yml"))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("ci.yml: ") for p in problems)


@pytest.mark.parametrize("ref", ["${{ github.event.pull_request.head.sha }}", "${{ github.head_ref }}",
                                 "${{ github.event.workflow_run.head_sha }}", "refs/pull/${{ github.event.number }}/merge"])
def test_privileged_checkout_of_the_head_fails(tmp_path, ref):
    workflow = load(REPO / ".github" / "workflows" / "report-comment.yml")
    workflow["on"]["pull_request_target"] = {"types": ["opened", "synchronize"]}
    workflow["jobs"]["comment"]["steps"].insert(0, {
        "uses": "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "with": {"ref": ref}})
    problems = check_workflow(dump(workflow, tmp_path / "report-comment.yml"))
    assert any("pull_request_target/workflow_run workflow checks out the pull request head" in p for p in problems), problems


def test_a_plain_pull_request_workflow_may_check_out_the_head(tmp_path):
    # Under `pull_request` the token is read-only (and fork runs get no secrets): checking out the head is fine.
    workflow = load(REPO / ".github" / "workflows" / "ci.yml")
    workflow["jobs"]["test"]["steps"][0].setdefault("with", {})["ref"] = "${{ github.event.pull_request.head.sha }}"
    assert check_workflow(dump(workflow, tmp_path / "ci.yml")) == []


def test_make_targets_are_read_from_the_makefile(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("X := 1\nall build: dep\n\techo hi\n$(VENV)/.installed: a\n.PHONY: all\n")
    assert make_targets(makefile) == {"all", "build"}
    assert make_targets() >= {"setup", "tools", "venv", "demo", "test"}


def test_simple_commands_split_shell_syntax():
    script = 'A=1 make setup && .venv/bin/nautilus report --base "$B" > r.md\nif [[ -n $X ]]; then echo hi; fi  # make x\n'
    commands = list(simple_commands(script))
    assert ["make", "setup"] in commands
    assert [".venv/bin/nautilus", "report", "--base", "$B"] in commands
    assert not any("x" == w for c in commands for w in c)


# --- the CPU smoke overlay that e2e.yml runs in kind -----------------------------------------------------

E2E = REPO / "tests" / "e2e"


@pytest.fixture(scope="module")
def smoke() -> list[dict]:
    kustomize = tool("kustomize", REPO / ".tools" / "bin")
    rendered = subprocess.run([kustomize, "build", str(E2E)], capture_output=True, text=True, check=True).stdout
    return [d for d in YAML(typ="safe").load_all(rendered) if d]


def containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["template"]["spec"] if "template" in doc.get("spec", {}) else {}
    return spec.get("initContainers", []) + spec.get("containers", [])


def test_smoke_overlay_is_what_the_workflow_drives(smoke):
    e2e = load(REPO / ".github" / "workflows" / "e2e.yml")
    names = {(d["kind"], run_name(d["metadata"]["name"]) if d["kind"] == "Job" else d["metadata"]["name"]) for d in smoke}
    script = "\n".join(s for _, s in run_scripts(e2e))
    for kind, name in [("Job", "smoke-data"), ("Job", "smoke-train"), ("Job", "smoke-check"), ("Deployment", "smoke-dataset-server")]:
        assert (kind, name) in names
    assert "deployment/smoke-dataset-server" in script and "job/smoke-check" in script  # check.yaml's Job has no run hash
    for stage in ("data", "train", "e2e-check"):  # run-named Jobs are found by their stage
        assert f"wait_job {stage} " in script
    assert {d["metadata"].get("namespace") for d in smoke} == {e2e["env"]["NAMESPACE"]}
    stages = {d["metadata"].get("labels", {}).get("nautilus.io/stage") for d in smoke}
    assert {"storage", "data", "train", "e2e-check"} <= stages
    images = {c["image"] for d in smoke for c in containers(d)}
    assert images == {e2e["env"]["SMOKE_IMAGE"]}


def test_smoke_overlay_needs_no_gpu(smoke):
    for doc in smoke:
        for container in containers(doc):
            resources = container.get("resources", {})
            assert not any(k.startswith("nvidia.com/") for part in resources.values() for k in part), doc["metadata"]["name"]
    train = next(d for d in smoke if d["kind"] == "Job" and run_name(d["metadata"]["name"]) == "smoke-train")
    args = train["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "--nproc-per-node=2"


def test_smoke_config_is_valid_and_points_at_the_dataset_server(smoke):
    from trainer.config import load_schema, validate
    config = load(E2E / "train.yaml")
    validate(config, load_schema(), "tests/e2e/train.yaml")
    service = next(d for d in smoke if d["kind"] == "Service")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert config["dataset"]["url"] == f"http://{host}:{service['spec']['ports'][0]['port']}/tiny.zip"
    check = next(d for d in smoke if d["metadata"]["name"] == "smoke-check")
    assert f'/data/runs/{config["run"]}' in check["spec"]["template"]["spec"]["containers"][0]["command"][2]


def test_tiny_dataset_has_the_catalogue_layout(tmp_path):
    sys.path.insert(0, str(E2E))
    try:
        from serve_tiny_dataset import SIZES, write_archive
    finally:
        sys.path.remove(str(E2E))
    from trainer.prepare.archive import extract, find_layout
    extract(write_archive(tmp_path / "www"), tmp_path / "out")
    layout = find_layout(tmp_path / "out")
    assert {p.name: len(list(p.glob("*.png"))) for p in layout.iterdir()} == SIZES


def test_the_comment_is_posted_whole_as_the_report_fitted_it():
    """ci.yml fits the comment with nautilus report --max-bytes; report-comment.yml never cuts it blindly."""
    ci = REPO / ".github" / "workflows" / "ci.yml"
    report = next(w for w in commands_run(ci, "nautilus") if w[1] == "report")
    assert report[report.index("--max-bytes") + 1] == "60000" and "--full" in report
    scripts = "\n".join(s for _, s in run_scripts(load(REPO / ".github" / "workflows" / "report-comment.yml")))
    assert "comment.md" in scripts and "> 65000" in scripts
    assert all("pr-number" in line for line in scripts.splitlines() if "head -c" in line)  # the report is not cut


# --- GitOps: the jobs that hold the namespace's token -------------------------------------------------------

GITOPS = ["deploy.yml", "drift.yml", "live-diff.yml"]
SAME_REPOSITORY = "github.event.workflow_run.head_repository.full_name == github.repository"


def environment_jobs(workflow: dict) -> dict[str, dict]:
    return {name: job for name, job in workflow["jobs"].items() if job.get("environment")}


def test_the_gitops_workflows_are_there():
    assert {p.name for p in WORKFLOWS} >= set(GITOPS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_job_with_the_environment_meets_a_forks_code(path):
    """A job that can read the Environment's secrets never runs on pull_request(_target), checks out main's code
    only, runs for workflow_run only on a same-repository pull request, and cannot write to the repository."""
    workflow = load(path)
    triggers = set(workflow["on"])
    for name, job in environment_jobs(workflow).items():
        assert not triggers & {"pull_request", "pull_request_target"}, f"{path.name}: {name} holds the token on a pull request"
        if "workflow_run" in triggers:
            assert SAME_REPOSITORY in " ".join(str(job.get("if", "")).split()), f"{path.name}: {name} would serve a fork"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert not {"ref", "repository"} & set(step.get("with", {})), f"{path.name}: {name} checks out other code"
        assert "write" not in (job.get("permissions") or {}).values(), f"{path.name}: {name} holds a write token and the secrets"
    for name, job in workflow["jobs"].items():  # and whoever writes never holds the secrets
        if "write" in (job.get("permissions") or {}).values():
            assert not job.get("environment") and "secrets.NAUTILUS" not in str(job), f"{path.name}: {name}"


def test_every_action_is_pinned_to_a_commit_with_its_version():
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if re.match(r"\s*-?\s*uses:", line):
                assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*\s*$", line), f"{path.name}: `{line.strip()}`"


def test_gitops_workflows_are_opt_in_and_build_the_kubeconfig_at_run_time():
    for name in GITOPS:
        workflow = load(REPO / ".github" / "workflows" / name)
        for job in environment_jobs(workflow).values():
            first = job["steps"][1]
            assert first["id"] == "kubeconfig" and first["run"] == ".github/gitops/kubeconfig.sh"
            assert set(first["env"]) == {"NAUTILUS_TOKEN", "NAUTILUS_CA", "NAUTILUS_SERVER", "NAUTILUS_NAMESPACE"}
            later = job["steps"][2:]
            assert later and all("steps.kubeconfig.outputs.enabled == 'true'" in str(s.get("if", "")) for s in later), name


def test_without_the_secrets_gitops_says_so_and_does_nothing(tmp_path):
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
           "RUNNER_TEMP": str(tmp_path), "NAUTILUS_TOKEN": "", "NAUTILUS_CA": ""}
    subprocess.run(["bash", str(REPO / ".github/gitops/kubeconfig.sh")], env=env, check=True)
    assert "GitOps is off" in summary.read_text() and output.read_text() == "enabled=false\n"
    assert not (tmp_path / "nautilus-kubeconfig").exists()


def test_fork_pull_requests_are_told_why_there_is_no_live_diff():
    script = load(REPO / ".github/workflows/report-comment.yml")["jobs"]["comment"]["steps"][-1]["run"]
    assert 'if [[ $HEAD_REPO != "$REPO" ]]' in script and "No live diff" in script
