"""The README's path, played as a researcher's fork would play it, from `nautilus new` to clean-up.

Every shell command is read from README.md's "Five minutes" section and CI's review job from
.github/workflows/ci.yml, so the README, the workflow and this test cannot drift apart. The fork is a
git repository holding a copy of this working tree on main, its `origin` at github.com/janedoe/cells.

What runs for real (bash, in the fork): `nautilus` (the installed entry point), CI's review steps, the
image workflow's step that names the image, and every `kubectl` command that needs only the API server
(apply, wait, get, delete), against the local control plane (tests/cluster) in a namespace of its own
that the kubeconfig's context names, as an NRP user's context does. Substituted, as the README tells the
user to: the namespace. Mapped: `make setup` is the environment this test runs in (.venv and .tools
linked into the fork); `source .venv/bin/activate` puts the fork's .venv/bin first on PATH. Played by the
test: kwok's kubelets end pods when the test says so (the data pod, later the train pod), and a
pre-made volume stands in for the storage class's provisioner.
Only checked for syntax (tests/test_docs.py checks their flags and names): `kubectl logs`, `top`, `cp` and
`exec`, which need a kubelet's API or a metrics server that the simulated nodes do not serve.
Not run here: CI's test job (`make test`, the whole suite); the review job's steps are.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator.render.kustomize import load_documents, render
from kube_support import REPO, git

from .controlplane import wait_until
from .workloads import node_labels, provide_volumes

REMOTE = "https://github.com/janedoe/cells.git"
README_NAMESPACE = "gp-engine-lab"  # "replace the namespace with yours"
SECTION = "## Five minutes from a namespace to results"
SYNTAX_ONLY = {"logs", "top", "cp", "exec"}  # need a kubelet API or metrics server: not simulated here
PR_BRANCH = "add-myproject"  # README step 3's branch
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Jane Doe", "GIT_AUTHOR_EMAIL": "jane@example.org",
                "GIT_COMMITTER_NAME": "Jane Doe", "GIT_COMMITTER_EMAIL": "jane@example.org"}


# ---------------------------------------------------------------- reading the README and the workflows

def readme_commands(readme: Path) -> list[str]:
    """Every command line of the fenced shell blocks of the README's walk-through, in order."""
    text = readme.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end > 0 else None]
    lines = []
    for body in re.findall(r"^ *```(?:bash|sh)\n(.*?)^ *```", section, flags=re.M | re.S):
        lines += [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def review_steps(fork: Path) -> dict[str, dict]:
    """CI's review job: {step name: step} for the steps that run `nautilus`."""
    ci = YAML(typ="safe").load((fork / ".github/workflows/ci.yml").read_text())
    return {step.get("name", step.get("id", "")): step for step in ci["jobs"]["review"]["steps"]
            if "nautilus " in step.get("run", "")}


def image_step(fork: Path) -> str:
    """The image workflow's shell that names the image it publishes (step id `image`)."""
    image = YAML(typ="safe").load((fork / ".github/workflows/image.yml").read_text())
    return next(step["run"] for step in image["jobs"]["publish"]["steps"] if step.get("id") == "image")


# ---------------------------------------------------------------- the fork and its shell

def fork_of_working_tree(folder: Path) -> Path:
    """What `git clone` of the fork gives: this working tree's files on main, origin and origin/main set."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "fork of the template")
    git(folder, "remote", "add", "origin", REMOTE)
    git(folder, "update-ref", "refs/remotes/origin/main", "HEAD")
    return folder


class Shell:
    """bash in the fork, with the user's PATH and kubeconfig."""

    def __init__(self, fork: Path, bin_dir: Path, kubeconfig: Path):
        self.fork = fork
        self.env = {key: value for key, value in os.environ.items() if key not in ("TRAINER_IMAGE", "VIRTUAL_ENV")}
        self.env.update(PATH=f"{bin_dir}:/usr/bin:/bin", KUBECONFIG=str(kubeconfig), HOME=str(fork.parent))

    def activate(self) -> None:  # `source .venv/bin/activate`
        self.env["PATH"] = f"{self.fork / '.venv/bin'}:{self.env['PATH']}"

    def run(self, command: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=self.fork, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)
        assert not check or proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def start(self, command: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", command], cwd=self.fork, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


# ---------------------------------------------------------------- what the cluster holds

def project_objects(cluster, namespace: str, project: str) -> set[tuple[str, str]]:
    items = cluster.get("jobs,pods,configmaps,pvc", "-n", namespace, "-l", f"app.kubernetes.io/instance={project}")["items"]
    return {(o["kind"], o["metadata"]["name"]) for o in items if not o["metadata"].get("deletionTimestamp")}


def gpu_pods(cluster, namespace: str) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.get("pods", "-n", namespace)["items"]
            if any(r.startswith("nvidia.com/") for c in p["spec"]["containers"] for r in c["resources"].get("limits", {}))]


def stage_job(cluster, namespace: str, project: str, stage: str) -> str | None:
    """The name of the newest Job of a project's stage (Jobs carry a run hash in their names), None without one."""
    jobs = cluster.get("jobs", "-n", namespace, "-l", f"app.kubernetes.io/instance={project},nautilus.io/stage={stage}")["items"]
    jobs.sort(key=lambda j: j["metadata"]["creationTimestamp"])
    return jobs[-1]["metadata"]["name"] if jobs else None


def job_condition(cluster, namespace: str, job: str | None) -> set[str]:
    found = cluster.kubectl("get", "job", job, "-n", namespace, "-o", "json", check=False) if job else None
    if found is None or found.returncode:
        return set()
    return {c["type"] for c in json.loads(found.stdout)["status"].get("conditions", []) if c["status"] == "True"}


def assert_mountable(cluster, pod: dict) -> None:
    """A kubelet starts a pod only once the ConfigMaps and claims it mounts exist; kwok does not check that."""
    namespace = pod["metadata"]["namespace"]
    for volume in pod["spec"].get("volumes", []):
        for kind, ref in (("configmap", (volume.get("configMap") or {}).get("name")),
                          ("pvc", (volume.get("persistentVolumeClaim") or {}).get("claimName"))):
            if ref:
                found = cluster.kubectl("get", kind, ref, "-n", namespace, check=False).returncode == 0
                assert found, f"pod {pod['metadata']['name']} mounts {kind} {ref}, which does not exist: no kubelet would start it"


def end_pods(cluster, namespace: str, job: str, code: int) -> None:
    """What a kubelet reports when the Job's container exits with `code` (kwok, see fixtures/kwok.yaml)."""
    selector = f"batch.kubernetes.io/job-name={job}"
    pods = wait_until(lambda: [p for p in cluster.get("pods", "-n", namespace, "-l", selector)["items"]
                               if p["status"].get("phase") == "Running"], 60, f"a running pod of {job}")
    for pod in pods:
        assert_mountable(cluster, pod)
        cluster.kubectl("annotate", "pod", "-n", namespace, pod["metadata"]["name"], f"kwok.nautilus.io/exit-code={code}")


# ---------------------------------------------------------------- the journey

@pytest.fixture
def journey(tmp_path, cluster, namespace):
    (tmp_path / "cells").mkdir()
    fork = fork_of_working_tree(tmp_path / "cells")
    bin_dir = tmp_path / "bin"  # the user's own kubectl (here the pinned one); bash and git come from /usr/bin
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(REPO / ".tools/bin/kubectl")
    kubeconfig = tmp_path / "kubeconfig"  # like NRP's: the context names the user's namespace
    shutil.copy(cluster.kubeconfig, kubeconfig)
    subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), "config", "set-context", "--current",
                    f"--namespace={namespace}"], check=True, capture_output=True)
    volumes: list[str] = []
    yield fork, Shell(fork, bin_dir, kubeconfig), volumes
    cluster.kubectl("delete", "-n", namespace, "pods,jobs,configmaps,pvc", "--all", "--wait=false", check=False)
    for volume in volumes:
        cluster.kubectl("delete", "persistentvolume", volume, "--ignore-not-found", "--wait=false")


def test_readme_journey_of_a_fork(cluster, namespace, journey):
    fork, shell, volumes = journey
    played = {"executed": [], "syntax only": []}
    state = {"data_done": False, "project": "", "products": []}

    def play(line: str) -> None:
        for command in (part.strip() for part in line.split("&&")):
            words = shlex.split(command)
            if words[:2] == ["make", "setup"]:  # mapped: this test's installed environment, linked in
                assert re.search(r"^setup:", (fork / "Makefile").read_text(), flags=re.M)
                for tools in (".venv", ".tools"):
                    (fork / tools).symlink_to(REPO / tools)
            elif command == "source .venv/bin/activate":
                shell.activate()
            elif words[0] == "nautilus":
                nautilus(command.replace(f"--namespace {README_NAMESPACE}", f"--namespace {namespace}"), words)
            elif words[0] == "kubectl" and words[1] in SYNTAX_ONLY:
                played["syntax only"].append(command)
                continue
            elif words[0] == "kubectl":
                kubectl(command, words)
            elif words[:2] == ["git", "push"]:  # mapped: GitHub is not reachable; CI's review runs on the pull request
                assert words[-1] == PR_BRANCH == git(fork, "rev-parse", "--abbrev-ref", "HEAD").strip(), words
                pull_request()
            elif words[0] == "git":
                shell.run(command, env=GIT_IDENTITY)
            else:
                pytest.fail(f"README line `{line}`: the journey does not know how to play `{words[0]}`; teach it")
            played["executed"].append(command)
            if not state["data_done"]:  # the README's promise: no GPU is asked for before the data are ready
                assert gpu_pods(cluster, namespace) == [], f"a GPU pod exists after `{command}`, before the data Job completed"

    def nautilus(command: str, words: list[str]) -> None:
        out = shell.run(command)
        if words[1] == "new":
            state["project"] = words[2]
            state["products"] = [words[i + 1] for i, word in enumerate(words) if word == "--gpu-product"]
            # The image: the name and tag the fork's image workflow publishes, computed by that workflow's own step.
            outputs = fork.parent / "github-output"
            shell.run(image_step(fork), env={"GITHUB_REPOSITORY": "janedoe/cells", "GITHUB_OUTPUT": str(outputs)})
            published = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
            assert published["name"] == "ghcr.io/janedoe/cells/trainer" and published["tag"].startswith("src-")
            images = {c["image"] for o in overlay_objects(words[2]) if o["kind"] == "Job"
                      for c in o["spec"]["template"]["spec"]["containers"]}
            assert images == {f"{published['name']}:{published['tag']}"}, out.stderr
        if words[1] == "validate":
            assert out.stderr.rstrip().splitlines()[-1].startswith("0 error(s), 0 warning(s)"), out.stderr  # as README says

    def overlay_objects(name: str) -> list[dict]:
        folder = fork / "overlays" / name
        return load_documents(render(folder), str(folder))

    def kubectl(command: str, words: list[str]) -> None:
        project = state["project"]
        if words[1] == "apply" and not volumes:  # the storage class's provisioner, played once
            volumes.extend(provide_volumes(cluster, namespace, overlay_objects(project)))
        data = stage_job(cluster, namespace, project, "data")
        if words[1] == "wait" and f"app.kubernetes.io/instance={project},nautilus.io/stage=data" in words \
                and not job_condition(cluster, namespace, data):
            waiting = shell.start(command)  # the data Job runs: the wait waits; then the data pod ends well
            end_pods(cluster, namespace, data, 0)
            output, _ = waiting.communicate(timeout=60)
            assert waiting.returncode == 0, f"`{command}`: {output}"
            state["data_done"] = "Complete" in wait_until(lambda: job_condition(cluster, namespace, data) &
                                                          {"Complete"}, 30, "the data Job to complete")
            return
        out = shell.run(command)
        if words[1:4] == ["apply", "-k", f"overlays/{project}"] and "-l" not in words:
            train_lands_on_the_requested_gpu()
        if words[1] == "get":
            assert f"{project}-train-" in out.stdout and "NODE" in out.stdout, out.stdout  # -o wide: where pods run
        if words[1] == "wait" and f"pod/{project}-results" in words:
            results_pod_needs_no_gpu(f"{project}-results")

    def train_lands_on_the_requested_gpu() -> None:
        selector = f"batch.kubernetes.io/job-name={stage_job(cluster, namespace, state['project'], 'train')}"
        pod = wait_until(lambda: next((p for p in cluster.get("pods", "-n", namespace, "-l", selector)["items"]
                                       if p["spec"].get("nodeName")), None), 60, "the train pod to be scheduled")
        assert node_labels(cluster)[pod["spec"]["nodeName"]]["nvidia.com/gpu.product"] in state["products"]

    def results_pod_needs_no_gpu(name: str) -> None:
        pod = cluster.get("pod", "-n", namespace, name)
        assert_mountable(cluster, pod)
        assert not any(r.startswith("nvidia.com/") for c in pod["spec"]["containers"]
                       for side in c["resources"].values() for r in side)
        assert "nvidia.com/gpu.product" not in node_labels(cluster)[pod["spec"]["nodeName"]]

    def pull_request() -> None:
        """README step 3, once its branch is committed and pushed: CI's review job runs on the pull request."""
        assert not git(fork, "status", "--porcelain", "--", "overlays"), "README step 3 should commit every overlay it wrote"
        steps = review_steps(fork)
        assert len(steps) == 3, f"CI's review job changed: {list(steps)}"
        for name, step in steps.items():
            env = {key: str(value).replace("${{ github.base_ref || github.event.repository.default_branch }}", "main")
                   .replace("${{ github.event.pull_request.number }}", "1") for key, value in (step.get("env") or {}).items()}
            assert not any("${{" in value for value in env.values()), env
            out = shell.run(step["run"], env={**env, "GITHUB_STEP_SUMMARY": str(fork.parent / "step-summary")})
            assert "::error" not in out.stdout, f"{name}: {out.stdout}"
        comment = (fork / "report/comment.md").read_text()
        for folder in (state["project"], f"{state['project']}.results"):
            assert f"| overlays/{folder} | new |" in comment, comment

    def left() -> set[tuple[str, str]]:
        return project_objects(cluster, namespace, state["project"])

    stale = None
    for line in readme_commands(fork / "README.md"):
        project = state["project"]
        if line.startswith("kubectl delete jobs,"):  # a week after it finished, the TTL controller removed the Job
            cluster.kubectl("delete", "job", stage_job(cluster, namespace, project, "train"), "-n", namespace)
        play(line)
        if line == f"kubectl apply -k overlays/{project}":  # training ends; the next run's edit leaves a config behind
            train = stage_job(cluster, namespace, project, "train")
            end_pods(cluster, namespace, train, 0)
            wait_until(lambda: "Complete" in job_condition(cluster, namespace, train), 60, "training to end")
            stale = {name for kind, name in left() if kind == "ConfigMap"}
            with open(fork / "overlays" / project / "train.yaml", "a") as edit:
                edit.write("# the next run\n")
            shell.run(f"kubectl apply -k overlays/{project} -l nautilus.io/stage=config")
            assert stale < {name for kind, name in left() if kind == "ConfigMap"}  # the next run's configs beside
        volume = {("PersistentVolumeClaim", f"{project}-storage")}
        if line.startswith("kubectl delete jobs,"):  # every run's Jobs, their pods and configs are gone; the volume is kept
            wait_until(lambda: left() == volume, 60, "only the volume to remain")

    assert stale and left() == set(), f"the README's last line should remove everything: {left()}"
    assert played["syntax only"] and {" ".join(shlex.split(c)[:2]) for c in played["executed"]} >= \
        {"nautilus new", "nautilus validate", "kubectl apply", "kubectl wait", "kubectl get", "kubectl delete"}


def test_readme_wait_returns_at_once_when_the_data_job_fails(cluster, namespace, journey):
    """The README's two wait lines on a data Job that fails: the first returns, the second fails.
    One change to the README's lines: the second wait's one-minute timeout is cut to 3 s, to keep the test fast."""
    fork, shell, volumes = journey
    lines = readme_commands(fork / "README.md")
    setup, new = lines[0], next(line for line in lines if line.startswith("nautilus new"))
    stage = next(line for line in lines if "nautilus.io/stage in (storage,config,data)" in line)
    waits = [line for line in lines if line.startswith("kubectl wait") and "nautilus.io/stage=data" in line]
    assert setup == "make setup && source .venv/bin/activate" and len(waits) == 2
    for tools in (".venv", ".tools"):
        (fork / tools).symlink_to(REPO / tools)
    shell.activate()
    shell.run(new.replace(f"--namespace {README_NAMESPACE}", f"--namespace {namespace}"))
    project = shlex.split(new)[2]
    folder = fork / "overlays" / project
    volumes.extend(provide_volumes(cluster, namespace, load_documents(render(folder), str(folder))))
    shell.run(stage)
    waiting = shell.start(waits[0])
    data = stage_job(cluster, namespace, project, "data")
    end_pods(cluster, namespace, data, 2)  # bad input: the podFailurePolicy fails the Job at once
    output, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and "Failed" in job_condition(cluster, namespace, data), output
    second = shell.run(re.sub(r"--timeout=\S+", "--timeout=3s", waits[1]), check=False)
    assert second.returncode != 0 and "timed out" in second.stderr, second
    assert gpu_pods(cluster, namespace) == []
