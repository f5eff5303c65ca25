"""`nautilus validate` end to end: real kustomize and kubeconform, output formats, exit codes, waivers."""
import subprocess
import sys

import pytest

from kube_support import REPO, examples_repo, run_name
from generator.policy.rules_doc import rules_markdown
from validate.support import build_case, cases, copy_project, load_yaml, run, run_json, write_yaml

CASE = {c["name"]: c for c in cases()}


def case_file(tmp_path, name):
    return write_yaml(tmp_path / f"{name}.yaml", build_case(CASE[name]))


@pytest.mark.parametrize("name, rule", [
    ("pod-3-gpus", "pod-gpu-max"),
    ("job-ends-in-sleep-infinity", "sleep-forever"),
    ("memory-limit-2x-request", "limit-ratio"),
    ("unknown-field-in-job-spec", "k8s-schema"),
])
def test_must_show_cases_exit_1_naming_the_rule(tmp_path, name, rule):
    path = case_file(tmp_path, name)
    code, out, _ = run("validate", path)
    assert code == 1
    assert out.splitlines()[0].startswith(f"{path}: ")
    assert f": {rule}: " in out


def test_clean_overlay_rendered_with_kustomize_exits_0(tmp_path):
    project = copy_project(tmp_path)
    code, out, err = run("validate", project / "overlays/demo")
    assert (code, out) == (0, "")
    assert err.strip() == "0 error(s), 0 warning(s), 0 waived in 1 source(s)"


def _break_job(project, **changes):
    job_path = project / "base/job.yaml"
    job = load_yaml(job_path)
    for key, value in changes.items():
        job["spec"][key] = value
    write_yaml(job_path, job)


def test_findings_map_back_to_their_overlay(tmp_path):
    good, bad = copy_project(tmp_path / "good"), copy_project(tmp_path / "bad")
    _break_job(bad, bogus=1)
    code, report, _ = run_json("validate", good / "overlays/demo", bad / "overlays/demo")
    assert code == 1
    assert [(f["source"], f["kind"], f["name"], f["rule"]) for f in report["findings"]] == [
        (str(bad / "overlays/demo"), "Job", "demo-train", "k8s-schema")]
    assert report["findings"][0]["file"] == str(bad / "overlays/demo/kustomization.yaml")
    assert "additional properties 'bogus' not allowed" in report["findings"][0]["message"]


def test_train_yaml_in_generated_configmap_is_checked(tmp_path):
    project = copy_project(tmp_path)
    (project / "overlays/demo/train.yaml").write_text("dataset: {name: horse2zebra}\ntrain: {epochs: -1}\n")
    code, out, _ = run("validate", project / "overlays/demo")
    assert code == 1
    assert out.startswith(f"{project / 'overlays/demo'}: ConfigMap/demo-train-config-")
    assert ": train-config: train.yaml train.epochs: -1 is less than the minimum of 0" in out


def test_warnings_alone_exit_0(tmp_path):
    code, out, _ = run("validate", case_file(tmp_path, "job-without-ttl"))
    assert code == 0
    assert ": job-ttl: warning: " in out


def test_waiver_is_reported_not_failed(tmp_path):
    path = case_file(tmp_path, "scratch-60Gi-waived")
    code, out, err = run("validate", path)
    assert code == 0
    assert out == f"{path}: Job/train: scratch-max: waived: unpacking the 55Gi archive needs it\n"
    assert "1 waived" in err


def test_stdin(tmp_path):
    text = case_file(tmp_path, "pod-3-gpus").read_text()
    code, out, _ = run("validate", "-", stdin=text)
    assert code == 1
    assert "-: Pod/dev: pod-gpu-max: asks for 3 GPUs, a bare Pod may have at most 2" in out


def test_json_format(tmp_path):
    code, report, _ = run_json("validate", case_file(tmp_path, "pod-3-gpus"))
    assert code == 1
    assert report["summary"]["errors"] == 1 and report["summary"]["warnings"] == 0
    finding = report["findings"][0]
    assert {k: finding[k] for k in ("kind", "name", "rule", "severity")} == {
        "kind": "Pod", "name": "dev", "rule": "pod-gpu-max", "severity": "error"}


def test_github_format(tmp_path):
    path = case_file(tmp_path, "job-without-ttl")
    bad = case_file(tmp_path, "priority-class-owner")
    code, out, _ = run("validate", path, bad, "--format", "github")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"::warning file={path},title=job-ttl::Job/train: spec: 'ttlSecondsAfterFinished' is a required property; ")
    assert lines[1].startswith(f"::error file={bad},title=priority-class::Job/train: priorityClassName owner ")


def test_missing_schema_can_be_ignored(tmp_path):
    path = case_file(tmp_path, "kind-without-schema")
    assert run("validate", path)[0] == 1
    assert run("validate", path, "--ignore-missing-schemas")[0] == 0


@pytest.mark.parametrize("version, code", [("1.25.0", 0), ("1.40", 0), ("1.10.0", 2), ("latest", 2)])
def test_kubernetes_version(tmp_path, version, code):
    assert run("validate", case_file(tmp_path, "clean-job"), "--kubernetes-version", version)[0] == code


def _usage_error(*args, cwd=REPO):
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; " in lines[0], proc.stderr
    return lines[0]


def test_usage_errors_are_one_line_exit_2(tmp_path):
    assert "does not exist" in _usage_error("validate", tmp_path / "nope")
    assert "without kustomization.yaml" in _usage_error("validate", tmp_path)
    assert "nothing to check" in _usage_error("validate")
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: {name: [\n")
    assert "not valid YAML" in _usage_error("validate", tmp_path / "bad.yaml")


def test_kustomize_failure_is_a_usage_error(tmp_path):
    project = copy_project(tmp_path)
    (project / "overlays/demo/kustomization.yaml").write_text("resources: [../../missing]\n")
    assert "kustomize could not render" in _usage_error("validate", project / "overlays/demo")


def test_committed_overlays_are_clean(monkeypatch):
    monkeypatch.chdir(examples_repo())  # the working tree, or a copy with the examples where a fork removed them
    code, out, err = run("validate", "--all")
    assert code == 0, out + err


def test_rules_doc_matches_the_rule_table():
    assert (REPO / "docs/rules.md").read_text() == rules_markdown(), "run: nautilus validate --rules-markdown > docs/rules.md"


def test_rules_doc_lists_every_rule_with_numbers_from_policy():
    text = rules_markdown()
    for rule_id in (c for case in cases() for c in case["expect"]):
        assert f"| `{rule_id}` |" in text
    assert "at most 2 GPUs" in text and "{" not in text.split("| --- |")[-1]


def test_a_request_above_its_limit_in_a_new_overlay_fails_as_the_api_server_refuses_it(tmp_path):
    """The walk's case: only the train container's requests.memory raised to 64Gi, its limit left at 7884Mi."""
    assert run("new", "cells", "--namespace", "gp-engine-lab", "--output-dir", str(tmp_path))[0] == 0
    path = tmp_path / "cells/resources.yaml"
    patch = load_yaml(path)
    train = patch["spec"]["template"]["spec"]["containers"][0]
    assert (train["name"], train["resources"]["limits"]["memory"]) == ("train", "7884Mi")
    train["resources"]["requests"]["memory"] = "64Gi"
    write_yaml(path, patch)
    code, out, _ = run("validate", tmp_path / "cells")
    assert code == 1
    assert "request-above-limit: container train: memory request 64Gi is above its limit 7884Mi" in out


def test_a_gpu_product_typo_edited_by_hand_fails_naming_the_near_product(tmp_path):
    """The walk's case: NVIDIA-A1O in gpu.yaml keeps the pod Pending until the Job's deadline."""
    assert run("new", "cells", "--namespace", "gp-engine-lab", "--gpu-product", "NVIDIA-A10", "--output-dir", str(tmp_path))[0] == 0
    path = tmp_path / "cells/gpu.yaml"
    path.write_text(path.read_text().replace("NVIDIA-A10", "NVIDIA-A1O"))
    code, out, _ = run("validate", tmp_path / "cells")
    assert code == 1
    assert ("gpu-product: selects nvidia.com/gpu.product=NVIDIA-A1O: NVIDIA-A1O is not a GPU product "
            "NRP offers (did you mean NVIDIA-A10?)") in out
    assert [run_name(line.split(": ")[1]) for line in out.splitlines() if ": gpu-product: " in line] == ["Job/cells-train"]


def test_a_product_newer_than_the_table_is_waived_with_its_reason(tmp_path):
    args = ("new", "cells", "--namespace", "gp-engine-lab", "--gpu-product", "NVIDIA-B300", "--dev-pod", "--output-dir", str(tmp_path))
    assert run(*args)[0] == 2
    assert run(*args, "--allow-unknown-product")[0] == 0
    code, report, _ = run_json("validate", tmp_path / "cells", tmp_path / "cells.dev")
    assert code == 0, report["findings"]
    assert sorted((w["kind"], w["rule"]) for w in report["waivers"]) == [("Job", "gpu-product"), ("Pod", "gpu-product")]


def test_a_pod_needing_a_configmap_its_overlay_does_not_render_fails(tmp_path):
    """An overlay without the ConfigMap its Jobs mount (an old one-generator overlay, or a generator removed by
    hand) would leave each pod in ContainerCreating, its GPU held: an error, naming the ConfigMap."""
    assert run("new", "cells", "--namespace", "gp-engine-lab", "--output-dir", str(tmp_path))[0] == 0
    assert run("validate", tmp_path / "cells")[0] == 0
    kustomization = tmp_path / "cells/kustomization.yaml"
    text = kustomization.read_text()
    kustomization.write_text(text.replace("- name: train\n", "- name: train-config\n", 1))
    code, out, _ = run("validate", tmp_path / "cells")
    assert code == 1
    found = [line for line in out.splitlines() if ": configmap-missing: " in line]
    assert found and all("needs ConfigMap train, which this overlay does not render" in line for line in found), out


def test_configmap_references_in_a_plain_file_or_marked_optional_are_not_findings(tmp_path):
    job = """apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: gp-engine-lab}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: busybox:1.36
          command: [true]
          envFrom: [{configMapRef: {name: settings}}]
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 100m, memory: 128Mi}}
"""
    (tmp_path / "job.yaml").write_text(job)
    _, out, _ = run("validate", tmp_path / "job.yaml")
    assert "configmap-missing" not in out  # a plain file may rely on a ConfigMap of the namespace
    overlay = tmp_path / "o"
    overlay.mkdir()
    (overlay / "job.yaml").write_text(job)
    (overlay / "kustomization.yaml").write_text("resources: [job.yaml]\n")
    _, out, _ = run("validate", overlay)
    assert "Job/j: configmap-missing: needs ConfigMap settings" in out
    (overlay / "job.yaml").write_text(job.replace("{name: settings}", "{name: settings, optional: true}"))
    _, out, _ = run("validate", overlay)
    assert "configmap-missing" not in out
