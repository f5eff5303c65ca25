"""GitOps on the control plane, as the generated deploy identity with the real token its Secret received.

A fork (a copy of this working tree, as in test_journey.py) gets a project overlay in the test's namespace
and its deploy identity (`nautilus gitops identity`), which the cluster admin applies once, as the user does
with their own kubectl. The token and the CA are then read from the token Secret that the control plane's
token controller filled, and every later step runs as that ServiceAccount, through the workflows' own
steps read from .github/workflows (deploy.yml, drift.yml, live-diff.yml, and ci.yml's render step), with the
`${{ }}` expressions of their env: blocks filled in as GitHub fills them. Mapped: the install step (the
fork links this environment's .venv and .tools, as the journey does). Played by the test: kwok ends pods,
the admin deletes a finished Job as its TTL would, and a person edits or deletes objects by hand.
"""
import base64
import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator.render.kustomize import load_documents, render
from kube_support import REPO, git

from .controlplane import wait_until
from .test_journey import end_pods, fork_of_working_tree
from .workloads import provide_volumes

PROJECT = "cells"


def workflow_job(fork: Path, name: str, job: str) -> dict:
    return YAML(typ="safe").load((fork / ".github/workflows" / name).read_text())["jobs"][job]


class Runner:
    """Runs workflow steps in the fork with bash, as a GitHub runner does, with the Environment filled in."""

    def __init__(self, fork: Path, temp: Path, namespace: str, server: str):
        self.fork, self.temp, self.namespace, self.server = fork, temp, namespace, server
        self.event = "push"
        self.env = {"PATH": f"{REPO / '.tools/bin'}:/usr/bin:/bin", "HOME": str(temp), "RUNNER_TEMP": str(temp),
                    "PYTHONPATH": str(REPO)}  # generator/ of this working tree, also in the `nautilus` script
        self.secrets: dict[str, str] = {}
        self.timings: list[tuple[str, float]] = []  # (step, seconds)

    def expression(self, value: str) -> str:
        known = {"${{ vars.NAUTILUS_NAMESPACE }}": self.namespace, "${{ vars.NAUTILUS_SERVER }}": self.server,
                 "${{ github.sha }}": git(self.fork, "rev-parse", "HEAD").strip(), "${{ runner.temp }}": str(self.temp),
                 "${{ github.event_name }}": self.event,
                 **{f"${{{{ secrets.{k} }}}}": v for k, v in self.secrets.items()}}
        for expression, filled in known.items():
            value = value.replace(expression, filled)
        assert "${{" not in value, f"an expression the test does not know: {value}"
        return value

    def step(self, step: dict, extra: dict | None = None, check: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
        """Run one step; (the process, what it wrote to GITHUB_OUTPUT). GITHUB_ENV carries over to later steps."""
        files = {name: self.temp / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        files["GITHUB_OUTPUT"].write_text("")
        files["GITHUB_ENV"].write_text("")
        env = {**self.env, **{k: self.expression(str(v)) for k, v in (step.get("env") or {}).items()},
               **{k: str(v) for k, v in files.items()}, **(extra or {})}
        began = time.monotonic()
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=self.fork,
                              env=env, capture_output=True, text=True, timeout=300)
        self.timings.append((step.get("name") or step.get("id", ""), time.monotonic() - began))
        assert not check or proc.returncode == 0, f"step `{step.get('name', step['run'][:40])}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        self.env.update(line.split("=", 1) for line in files["GITHUB_ENV"].read_text().splitlines() if "=" in line)
        return proc, dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if "=" in line)

    def job(self, workflow: str, job: str, names: list[str]) -> dict[str, subprocess.CompletedProcess]:
        """The job's kubeconfig step, then the named run steps in order (each must be there): {name: process}."""
        steps = workflow_job(self.fork, workflow, job)["steps"]
        _, output = self.step(next(s for s in steps if s.get("id") == "kubeconfig"))
        assert output == {"enabled": "true"}
        by_name = {s.get("name"): s for s in steps if "run" in s}
        assert set(names) <= set(by_name), f"{workflow} {job} has no step {set(names) - set(by_name)}"
        return {name: self.step(by_name[name])[0] for name in names}


DEPLOY = ["What the token may do", "Validate every overlay, as a pull request is validated",
          "Apply the overlays changed since the last applied commit"]


@pytest.fixture
def gitops(tmp_path, cluster, namespace):
    (tmp_path / "fork").mkdir()
    fork = fork_of_working_tree(tmp_path / "fork")
    for tools in (".venv", ".tools"):  # make setup, as the journey maps it
        (fork / tools).symlink_to(REPO / tools)
    runner = Runner(fork, tmp_path / "runner", namespace, cluster.server)
    runner.temp.mkdir()
    nautilus = [str(fork / ".venv/bin/nautilus")]
    shell = {"cwd": fork, "env": runner.env, "capture_output": True, "text": True, "check": True}
    subprocess.run(nautilus + ["new", PROJECT, "--namespace", namespace, "--gpus", "1", "--gpu-product", "NVIDIA-A10"], **shell)
    identity = subprocess.run(nautilus + ["gitops", "identity", "--namespace", namespace], **shell).stdout
    git(fork, "add", "-A")
    git(fork, "commit", "-q", "-m", f"Add overlays/{PROJECT} and the deploy identity")
    # The user, once, with their own kubectl (here the admin's): apply the identity the command printed.
    assert "kubectl apply -k deploy/identity" in identity
    cluster.kubectl("apply", "-k", str(fork / "deploy/identity"))
    secret = wait_until(lambda: (lambda s: s if s.get("data", {}).get("token") else None)(
        cluster.get("secret", "nautilus-deploy-token", "-n", namespace)), 60, "the token controller to fill the Secret")
    runner.secrets = {"NAUTILUS_TOKEN": base64.b64decode(secret["data"]["token"]).decode(),
                      "NAUTILUS_CA": base64.b64decode(secret["data"]["ca.crt"]).decode()}
    volumes = provide_volumes(cluster, namespace, load_documents(render(fork / "overlays" / PROJECT)))
    yield fork, runner
    for volume in volumes:
        cluster.kubectl("delete", "persistentvolume", volume, "--ignore-not-found", "--wait=false")


def as_deployer(runner: Runner, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], env=runner.env, capture_output=True, text=True, timeout=60)


def versions(cluster, namespace: str) -> dict[tuple[str, str], str]:
    items = cluster.get("configmaps,persistentvolumeclaims,jobs,services", "-n", namespace)["items"]
    return {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in items
            if o["metadata"]["name"] != "kube-root-ca.crt"}


def settled_versions(cluster, namespace: str) -> dict[tuple[str, str], str]:
    """versions() once the controllers are done with the objects (two reads two seconds apart agree): a Job's
    status moves its resourceVersion while its pods start."""
    last: dict = {}

    def same():
        nonlocal last
        now = versions(cluster, namespace)
        agreed, last = now == last, now
        return now if agreed else None
    return wait_until(same, 60, "the namespace's objects to settle", interval=2)


def jobs(cluster, namespace: str, stage: str) -> dict[str, dict]:
    found = cluster.get("jobs", "-n", namespace, "-l", f"nautilus.io/stage={stage}")["items"]
    return {j["metadata"]["name"]: j for j in found if not j["metadata"].get("deletionTimestamp")}


def commit(fork: Path, message: str) -> None:
    git(fork, "add", "-A")
    git(fork, "commit", "-q", "-m", message)


def test_main_is_what_runs_in_the_namespace(cluster, namespace, gitops):
    fork, runner = gitops
    # --- a new overlay is applied, as the deployer; timed from the deploy steps' start to the Job existing
    seen: dict[str, float] = {}
    watching = threading.Event()

    def watch():
        while not watching.is_set() and "job" not in seen:
            if cluster.kubectl("get", "jobs", "-n", namespace, "-l", "nautilus.io/stage=train", "-o", "name").stdout.strip():
                seen["job"] = time.monotonic()
            time.sleep(0.05)
    started = time.monotonic()
    watcher = threading.Thread(target=watch)
    watcher.start()
    first = runner.job("deploy.yml", "deploy", DEPLOY)
    watching.set()
    watcher.join()
    elapsed = seen["job"] - started
    steps = "; ".join(f"{name} {seconds:.1f} s" for name, seconds in runner.timings)
    summary = first["Apply the overlays changed since the last applied commit"].stdout
    (train,) = jobs(cluster, namespace, "train")
    (data,) = jobs(cluster, namespace, "data")
    assert f"| overlays/{PROJECT} | created | Job | {train} | new run |" in summary, summary
    assert "| yes | create | jobs.batch |" in first["What the token may do"].stdout
    record = cluster.get("configmap", "nautilus-gitops", "-n", namespace)
    assert record["metadata"]["annotations"]["nautilus.io/applied-commit"] == git(fork, "rev-parse", "HEAD").strip()
    labelled = json.loads(cluster.kubectl("get", "configmaps,jobs,pvc", "-n", namespace, "-l", f"nautilus.io/gitops-overlay={PROJECT}",
                                          "-o", "json", "--show-managed-fields").stdout)["items"]
    assert len(labelled) == 5  # the claim, two configs, two Jobs
    assert all("nautilus-gitops" in {m["manager"] for m in o["metadata"]["managedFields"]} for o in labelled)

    # --- the token: no Secret, no other namespace, no claim deleted (each tried, each refused)
    for args in (["get", "secret", "nautilus-deploy-token"], ["get", "secrets"], ["get", "configmaps", "-n", "default"],
                 ["create", "configmap", "x", "-n", "default"], ["delete", "pvc", f"{PROJECT}-storage"],
                 ["get", "nodes"]):
        refused = as_deployer(runner, *args)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), (args, refused.stdout, refused.stderr)
    assert cluster.kubectl("get", "pvc", f"{PROJECT}-storage", "-n", namespace).returncode == 0

    # --- status, as the deployer: the run, its state and pod's node (the GPU product needs node reads it lacks)
    pod = wait_until(lambda: next((p for p in cluster.get("pods", "-n", namespace, "-l", f"batch.kubernetes.io/job-name={train}")["items"]
                                   if p["spec"].get("nodeName")), None), 60, "the train pod to be scheduled")
    shown = subprocess.run([str(fork / ".venv/bin/nautilus"), "gitops", "status", "-n", namespace], cwd=fork, env=runner.env,
                           capture_output=True, text=True, timeout=60)
    row = next(line.split() for line in shown.stdout.splitlines() if train in line)
    assert row[:3] == [PROJECT, train, "running"] and pod["spec"]["nodeName"] in row, shown.stdout
    assert f"last applied commit: {git(fork, 'rev-parse', 'HEAD').strip()}" in shown.stdout
    mine = subprocess.run([str(fork / ".venv/bin/nautilus"), "gitops", "status", "-n", namespace], cwd=fork,
                          env={**runner.env, "KUBECONFIG": str(cluster.kubeconfig)}, capture_output=True, text=True, timeout=60)
    assert "NVIDIA-A10" in next(line for line in mine.stdout.splitlines() if train in line), mine.stdout  # may read nodes

    # --- a second run with nothing changed changes nothing
    before = settled_versions(cluster, namespace)
    second = runner.job("deploy.yml", "deploy", DEPLOY[-1:])
    assert versions(cluster, namespace) == before
    assert "Nothing to apply" in second[DEPLOY[-1]].stdout

    # --- a changed train.yaml: the pull request's live diff, then the merge starts a new run beside the old one
    git(fork, "switch", "-q", "-c", "more-epochs")
    config = fork / "overlays" / PROJECT / "train.yaml"
    config.write_text(config.read_text().replace("epochs: 100 ", "epochs: 120 "))
    assert "epochs: 120" in config.read_text()
    commit(fork, "More epochs")
    render_step = next(s for s in workflow_job(fork, "ci.yml", "review")["steps"] if s.get("name") == "Render the project overlays for the live diff")
    runner.step(render_step)
    artifact = runner.temp / "pr"
    (fork / "report").rename(artifact)  # the artifact, downloaded by live-diff.yml into runner.temp/pr
    git(fork, "switch", "-q", "main")  # live-diff.yml checks out main, never the pull request
    plan = next(s for s in workflow_job(fork, "live-diff.yml", "plan")["steps"]
                if s.get("name") == "Plan the pull request's rendered overlays against the namespace")
    runner.job("live-diff.yml", "plan", [])
    runner.step(plan)
    comment = (fork / "live/plan.md").read_text()
    print(f"\n{comment}\ndeploy steps' start to the train Job existing: {elapsed:.1f} s ({steps})")  # pytest -s shows it
    assert "Runs started:" in comment and f"| overlays/{PROJECT} | older run still running (left alone) | Job | {train} |" in comment, comment
    assert versions(cluster, namespace) == before  # a plan changes nothing
    git(fork, "merge", "-q", "--ff-only", "more-epochs")
    third = runner.job("deploy.yml", "deploy", DEPLOY[-1:])[DEPLOY[-1]].stdout
    now = jobs(cluster, namespace, "train")
    assert train in now and len(now) == 2, now  # the old run is left alone, running
    (new_train,) = set(now) - {train}
    assert f"kubectl delete job {train} -n {namespace}" in third, third

    # --- a finished run removed by its TTL is not run again by an unchanged main
    end_pods(cluster, namespace, new_train, 0)
    wait_until(lambda: any(c["type"] == "Complete" for c in cluster.get("job", new_train, "-n", namespace)["status"].get("conditions", [])),
               60, "the new run to complete")
    cluster.kubectl("delete", "job", new_train, "-n", namespace)  # what ttlSecondsAfterFinished does after a week
    wait_until(lambda: new_train not in jobs(cluster, namespace, "train"), 60, "the finished Job to go")
    runner.event = "workflow_dispatch"  # run by hand: all of main, not only what changed
    fourth = runner.job("deploy.yml", "deploy", DEPLOY[-1:])[DEPLOY[-1]].stdout
    assert new_train not in jobs(cluster, namespace, "train") and "not started again" in fourth, fourth

    # --- drift: silent on a clean namespace, then names a hand-edited and a hand-deleted object
    check = ["Compare main with the namespace"]
    clean = runner.job("drift.yml", "check", check)[check[0]]
    assert "No drift" in (fork / "drift/drift.md").read_text(), clean.stdout
    main = {o["metadata"]["name"] for o in load_documents(render(fork / "overlays" / PROJECT)) if o["kind"] == "ConfigMap"}
    (edited,) = [n for n in main if n.startswith(f"{PROJECT}-data-")]  # the current run's data config
    deleted = new_train  # the current run's train config, named like its Job (which is gone)
    assert deleted in main
    cluster.kubectl("patch", "configmap", edited, "-n", namespace, "--type", "merge", "-p", '{"data": {"train.yaml": "run: by-hand\\n"}}')
    cluster.kubectl("delete", "configmap", deleted, "-n", namespace)
    step = next(s for s in workflow_job(fork, "drift.yml", "check")["steps"] if s.get("name") == check[0])
    _, output = runner.step(step)
    report = (fork / "drift/drift.md").read_text()
    assert output == {"drift": "true"}, report
    assert f"| ConfigMap | {edited} | changed by hand | `data.train.yaml` |" in report, report
    assert f"| ConfigMap | {deleted} | deleted by hand |" in report, report
    runner.job("deploy.yml", "deploy", DEPLOY[-1:])  # main applied again puts both back
    runner.job("drift.yml", "check", check)
    assert "No drift" in (fork / "drift/drift.md").read_text()

    # --- a removed overlay: its Jobs, pods and configs are pruned, its claim is kept and the summary says how to delete it
    runner.event = "push"
    git(fork, "rm", "-q", "-r", f"overlays/{PROJECT}", f"overlays/{PROJECT}.results")
    commit(fork, f"Remove overlays/{PROJECT}")
    last = runner.job("deploy.yml", "deploy", DEPLOY[-1:])[DEPLOY[-1]].stdout
    assert f"kubectl delete pvc {PROJECT}-storage -n {namespace}" in last, last
    wait_until(lambda: not cluster.get("jobs,configmaps", "-n", namespace, "-l", f"app.kubernetes.io/instance={PROJECT}")["items"],
               60, "the project's Jobs and configs to be pruned")
    wait_until(lambda: not cluster.get("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={PROJECT}")["items"],
               60, "the project's pods to go with their Jobs")
    assert cluster.get("pvc", f"{PROJECT}-storage", "-n", namespace)["metadata"].get("deletionTimestamp") is None
    assert PROJECT not in json.loads(cluster.get("configmap", "nautilus-gitops", "-n", namespace)["data"]["record.json"])["overlays"]


def workflow_section_commands(heading: str) -> list[str]:
    text = (REPO / "docs/workflow.md").read_text()
    start = text.index(heading)
    section = text[start:text.index("\n#", start + len(heading))]
    return [line.strip() for body in re.findall(r"```bash\n(.*?)```", section, flags=re.S)
            for line in body.splitlines() if line.strip()]


def test_changing_the_config_of_a_run_by_hand(cluster, namespace, tmp_path):
    """docs/workflow.md's "Changing the config of a run", line by line with the user's kubectl: a new run, never
    `field is immutable`; the data Job of the new config runs too."""
    (tmp_path / "fork").mkdir()
    fork = fork_of_working_tree(tmp_path / "fork")
    nautilus = Path(REPO / ".venv/bin/nautilus")
    env = {"PATH": f"{REPO / '.tools/bin'}:/usr/bin:/bin", "PYTHONPATH": str(REPO), "KUBECONFIG": str(cluster.kubeconfig),
           "HOME": str(tmp_path)}
    subprocess.run([str(nautilus), "new", "myproject", "--namespace", namespace, "--gpus", "1"], cwd=fork, env=env, check=True,
                   capture_output=True)
    provide_volumes(cluster, namespace, load_documents(render(fork / "overlays/myproject")))
    sh = lambda line: subprocess.run(["bash", "-c", line.replace("kubectl ", f"kubectl -n {namespace} ", 1)], cwd=fork, env=env,
                                     capture_output=True, text=True, timeout=120)
    assert sh("kubectl apply -k overlays/myproject").returncode == 0
    old = {stage: set(jobs(cluster, namespace, stage)) for stage in ("data", "train")}
    config = fork / "overlays/myproject/train.yaml"
    config.write_text(config.read_text().replace("batch_size: 1 ", "batch_size: 2 "))
    lines = workflow_section_commands("### Changing the config of a run")
    change, prune = lines[:3], lines[3:]
    assert change[-1] == "kubectl apply -k overlays/myproject" and len(prune) == 1 and "--prune" in prune[0], lines
    for line in change:
        proc = sh(line)
        assert proc.returncode == 0 and "immutable" not in proc.stderr, (line, proc.stderr)
    new = {stage: set(jobs(cluster, namespace, stage)) for stage in ("data", "train")}
    assert len(new["train"]) == 1 and new["train"] != old["train"]  # the old run stopped, the new one started
    assert new["data"] > old["data"]  # the data stage runs again for the new config (and finds the dataset published)
    again = sh("kubectl apply -k overlays/myproject")
    assert again.returncode == 0 and "created" not in again.stdout and "configured" not in again.stdout, again.stdout
    configs = lambda: {c["metadata"]["name"] for c in cluster.get("configmaps", "-n", namespace, "-l", "nautilus.io/stage=config")["items"]}
    current = {o["metadata"]["name"] for o in load_documents(render(fork / "overlays/myproject")) if o["kind"] == "ConfigMap"}
    assert configs() > current  # the older configs are still there
    pruned = sh(prune[0])  # the section's clean-up of older configs
    assert pruned.returncode == 0, pruned.stderr
    try:
        wait_until(lambda: configs() == current, 30, "only the current configs to remain")
    except TimeoutError as exc:
        pytest.fail(f"{exc}: {configs()}; the prune printed {pruned.stdout} {pruned.stderr}")


def test_an_overlay_may_ask_to_replace_its_running_run(cluster, namespace, gitops):
    """With `nautilus.io/on-new-run: replace` on its train Job, a new config stops the run that still runs."""
    fork, runner = gitops
    runner.job("deploy.yml", "deploy", DEPLOY[-1:])
    (old,) = jobs(cluster, namespace, "train")
    overlay = fork / "overlays" / PROJECT
    (overlay / "replace.yaml").write_text("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: train\n  annotations:\n"
                                          "    nautilus.io/on-new-run: replace\n")
    yaml = YAML()
    kustomization = yaml.load(overlay / "kustomization.yaml")
    kustomization["patches"].append({"path": "replace.yaml"})
    next(g for g in kustomization["configMapGenerator"] if g["name"] == "train")["files"].append("replace.yaml")
    yaml.dump(kustomization, overlay / "kustomization.yaml")
    commit(fork, "Replace the running run on a new config")
    summary = runner.job("deploy.yml", "deploy", DEPLOY[-1:])[DEPLOY[-1]].stdout
    wait_until(lambda: old not in jobs(cluster, namespace, "train"), 60, "the older run to be stopped")
    (new,) = jobs(cluster, namespace, "train")
    assert new != old and f"| stopped (superseded run; the overlay asks for it) | Job | {old} |" in summary, summary


def test_what_cannot_be_applied_is_not_applied(cluster, namespace, gitops):
    """A train.yaml that fails validation stops the deploy before anything is applied; an edit of base/ that
    changes a Job's template under the same name is refused by the API server, reported, and exits 1."""
    fork, runner = gitops
    runner.job("deploy.yml", "deploy", DEPLOY[-1:])
    before = settled_versions(cluster, namespace)
    steps = {s.get("name"): s for s in workflow_job(fork, "deploy.yml", "deploy")["steps"]}
    config = fork / "overlays" / PROJECT / "train.yaml"
    good = config.read_text()
    config.write_text(good.replace("epochs: 100 ", "epochs: -1 "))
    commit(fork, "A bad config")
    validate, _ = runner.step(steps[DEPLOY[1]], check=False)
    stopped, _ = runner.step(steps[DEPLOY[2]], check=False)
    assert validate.returncode == 1 and stopped.returncode == 1 and "Deploy stopped: validation errors" in stopped.stdout
    assert versions(cluster, namespace) == before
    config.write_text(good)
    job = fork / "base/train/job.yaml"
    job.write_text(job.read_text().replace("fsGroup: 1000", "fsGroup: 1001", 1))  # the pod template, same run name
    commit(fork, "A base edit")
    refused, _ = runner.step(steps[DEPLOY[2]], check=False)
    (train,) = jobs(cluster, namespace, "train")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"| not applied (the API server refuses the change) | Job | {train} |" in refused.stdout, refused.stdout
    assert cluster.get("job", train, "-n", namespace)["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 1000
