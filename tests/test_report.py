"""`nautilus report`: cells of a known overlay, totals, before -> after against a git ref, the change first,
unchanged overlays folded, and a comment that fits GitHub's limit at a lab's 200 overlays."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from validate.support import copy_project, load_yaml, run, run_json, write_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import GPU_PATCH, change_last_overlay, lab  # noqa: E402  (the benchmark's lab repository)

JOB_AFTER = {
    "stage": "train", "kind": "Job", "name": "demo-train", "gpus": "2", "gpu_type": "nvidia.com/gpu (NVIDIA-A10)",
    "cpu": "8 / 8800m", "memory": "32Gi / 35Gi", "shm": "8Gi", "ephemeral": "20Gi / 22Gi", "storage": "-",
    "pods": "1", "max_runtime": "1d", "gpu_hours": "48", "variants": "-",
}
JOB_BEFORE = {**JOB_AFTER, "gpus": "1", "gpu_hours": "24"}
PVC = {
    "stage": "storage", "kind": "PersistentVolumeClaim", "name": "demo-storage", "gpus": "0", "gpu_type": "-",
    "cpu": "-", "memory": "-", "shm": "-", "ephemeral": "-", "storage": "50Gi rook-cephfs (ReadWriteMany)",
    "pods": "-", "max_runtime": "-", "gpu_hours": "0", "variants": "-",
}
DEV_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dev", "labels": {"nautilus.io/stage": "dev"}},
    "spec": {"activeDeadlineSeconds": 21600, "containers": [{"name": "dev", "image": "trainer", "command": ["sleep", "infinity"],
             "resources": {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                           "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}}}]},
}


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


def status(repo) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with two commits: the second gives the Job 2 GPUs, adds a dev Pod, drops the PVC."""
    copy_project(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one GPU")
    job = load_yaml(tmp_path / "base/job.yaml")
    for side in ("requests", "limits"):
        job["spec"]["template"]["spec"]["containers"][0]["resources"][side]["nvidia.com/gpu"] = "2"
    write_yaml(tmp_path / "base/job.yaml", job)
    write_yaml(tmp_path / "base/dev.yaml", DEV_POD)
    (tmp_path / "base/kustomization.yaml").write_text("resources:\n  - job.yaml\n  - dev.yaml\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "two GPUs, a dev pod, no claim")
    (tmp_path / "untracked.txt").write_text("left alone\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cells_of_a_known_overlay(tmp_path):
    project = copy_project(tmp_path)
    code, report, _ = run_json("report", project / "overlays/demo")
    assert code == 0
    (overlay,) = report["overlays"]
    assert [w["after"] for w in overlay["workloads"]] == [PVC, JOB_BEFORE]
    assert overlay["totals"]["after"] == {"GPUs at once": "1", "CPU requested": "8", "memory requested": "32Gi",
                                          "storage": "50Gi", "worst-case GPU-h": "24"}
    assert overlay["findings"] == {"errors": 0, "warnings": 0}


def test_a_figure_an_init_container_sets_names_it(tmp_path):
    """The pod's request is the larger of its largest init container and its containers' sum: when the init
    container's is larger, the cell says so, since the number in the overlay's train container is not the pod's."""
    project = copy_project(tmp_path)
    job = load_yaml(project / "base/job.yaml")
    pod = job["spec"]["template"]["spec"]
    init = {"name": "prepare", "image": pod["containers"][0]["image"], "command": ["python", "-m", "trainer.prepare"],
            "securityContext": pod["containers"][0].get("securityContext", {}),
            "resources": {"requests": {"cpu": "16", "memory": "1Gi"}, "limits": {"cpu": "16", "memory": "1Gi"}}}
    pod["initContainers"] = [init]
    write_yaml(project / "base/job.yaml", job)
    _, report, _ = run_json("report", project / "overlays/demo")
    cells = [w["after"] for w in report["overlays"][0]["workloads"] if w["after"]["kind"] == "Job"][0]
    assert (cells["cpu"], cells["memory"]) == ("16 / 16 (init container prepare)", JOB_AFTER["memory"])


def test_base_shows_before_and_after_per_cell(repo):
    before_status = status(repo)
    code, report, _ = run_json("report", "overlays/demo", "--base", "HEAD~1")
    assert code == 0
    assert status(repo) == before_status  # the working tree is untouched
    (overlay,) = report["overlays"]
    by_name = {(w["after"] or w["before"])["name"]: w for w in overlay["workloads"]}
    assert by_name["demo-train"] == {"change": "changed", "before": JOB_BEFORE, "after": JOB_AFTER}
    assert by_name["demo-storage"] == {"change": "removed", "before": PVC, "after": None}
    assert by_name["demo-dev"]["change"] == "new" and by_name["demo-dev"]["before"] is None
    assert by_name["demo-dev"]["after"]["gpu_hours"] == "6"  # 1 GPU x 21600 s
    assert report["totals"]["before"]["GPUs at once"] == "1"
    assert report["totals"]["after"]["GPUs at once"] == "3"


def test_base_markdown_table(repo):
    code, out, _ = run("report", "overlays/demo", "--base", "HEAD~1")
    assert code == 0
    table = out[out.index("### `overlays/demo` (changed)"):]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| change | stage | kind | name | GPUs/pod |")
    assert "| **changed** | train | Job | demo-train | 1 → 2 | nvidia.com/gpu (NVIDIA-A10) |" in out
    assert "| 1d | 24 → 48 |" in out
    assert "| **new** | dev | Pod | demo-dev | 1 |" in out
    assert "| **removed** | ~~storage~~ | ~~PersistentVolumeClaim~~ | ~~demo-storage~~ |" in out
    assert "| GPUs at once | 1 | 3 |" in out
    assert "worst-case GPU-hours = GPUs per pod x pods at once" in out
    # the change first: the totals and one line per workload that changed, above the overlay's table
    summary = out[:out.index("### `overlays/demo`")]
    assert "| overlays/demo | changed | Job | demo-train | GPUs/pod 1 → 2; worst-case GPU-h 24 → 48 |" in summary
    assert "| overlays/demo | new | Pod | demo-dev | GPUs/pod 1; GPU type nvidia.com/gpu; CPU req/lim 2 / 2;" in summary
    assert "| overlays/demo | removed | PersistentVolumeClaim | demo-storage | storage 50Gi rook-cephfs (ReadWriteMany) |" in summary


def test_bad_ref_is_a_usage_error(repo):
    code, _, err = run("report", "overlays/demo", "--base", "no-such-ref")
    assert code == 2
    assert err.startswith("error: no-such-ref is not a commit of ")


# ---------------------------------------------------------------- a lab's repository: the change first

GPU_2 = GPU_PATCH.removeprefix("patches:\n")
TTL_GONE = """  - target: {kind: Job, name: train}
    patch: |-
      - op: remove
        path: /spec/ttlSecondsAfterFinished
"""
TTL_WAIVED = """  - target: {kind: Job, name: train}
    patch: |-
      - op: add
        path: /metadata/annotations
        value: {waive.nautilus.io/job-ttl: "results are collected by a CronJob"}
"""


def patch(overlay: Path, *entries: str, tag: str = "v0.1.0") -> None:
    """overlay's kustomization as generated, with these patches and image tag."""
    text = (Path(__file__).parent / "validate/project/overlays/demo/kustomization.yaml").read_text().replace("demo", overlay.name)
    (overlay / "kustomization.yaml").write_text(text.replace("v0.1.0", tag) + ("patches:\n" + "".join(entries) if entries else ""))


@pytest.fixture
def change(tmp_path, monkeypatch):
    """A committed lab of 4 overlays (p001's Job keeps finished Jobs forever: a job-ttl warning), then a change:
    p001 asks for 2 GPUs and keeps its TTL, p002 is removed, p003 drops its TTL under a waiver and takes the
    `latest` image, p004 is new, p000 stays."""
    overlays = lab(tmp_path, 4)
    patch(overlays[1], TTL_GONE)
    git(tmp_path, "commit", "-qam", "p001 without TTL")
    patch(overlays[1], GPU_2)
    shutil.rmtree(overlays[2])
    patch(overlays[3], TTL_GONE, TTL_WAIVED, tag="latest")
    shutil.copytree(overlays[0], tmp_path / "overlays/p004")
    patch(tmp_path / "overlays/p004")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_summary_counts_what_the_change_does(change):
    code, report, _ = run_json("report", "--all", "--base", "HEAD")
    assert code == 0  # a report, not a check: findings do not fail it
    summary = report["summary"]
    assert summary["overlays"] == {"changed": 2, "new": 1, "removed": 1, "same": 1}
    assert [(w["source"], w["change"], w["kind"], w["name"]) for w in summary["workloads"]] == [
        ("overlays/p001", "changed", "Job", "p001-train"),
        ("overlays/p004", "new", "PersistentVolumeClaim", "p004-storage"),
        ("overlays/p004", "new", "Job", "p004-train"),
        ("overlays/p002", "removed", "PersistentVolumeClaim", "p002-storage"),
        ("overlays/p002", "removed", "Job", "p002-train"),
    ]
    assert summary["workloads"][0]["cells"] == {"gpus": ["1", "2"], "gpu_hours": ["24", "48"]}
    assert summary["workloads"][2]["cells"]["gpus"] == [None, "1"]
    assert summary["workloads"][4]["cells"]["gpu_hours"] == ["24", None]
    assert summary["manifests_only"] == ["overlays/p003"]  # new image tag, no TTL: same requests
    assert [(f["source"], f["name"], f["rule"]) for f in summary["findings"]["new"]] == [
        ("overlays/p003", "p003-train", "image-pinned")]
    assert [(f["source"], f["name"], f["rule"]) for f in summary["findings"]["fixed"]] == [
        ("overlays/p001", "p001-train", "job-ttl")]
    assert summary["waivers"] == {"added": [{"source": "overlays/p003", "kind": "Job", "name": "p003-train",
                                             "rule": "job-ttl", "reason": "results are collected by a CronJob"}],
                                  "removed": []}
    assert (report["totals"]["before"]["GPUs at once"], report["totals"]["after"]["GPUs at once"]) == ("4", "5")
    assert (report["totals"]["before"]["worst-case GPU-h"], report["totals"]["after"]["worst-case GPU-h"]) == ("96", "120")


def test_markdown_leads_with_the_change_and_folds_the_rest(change):
    code, out, _ = run("report", "--all", "--base", "HEAD")
    assert code == 0
    fold = out.index("<details>")
    above = out[:fold]
    assert "| GPUs at once | 4 | 5 |" in above
    assert "| overlays/p001 | changed | Job | p001-train | GPUs/pod 1 → 2; worst-case GPU-h 24 → 48 |" in above
    assert "**New findings** (1):" in above and "`image-pinned` (error)" in above
    assert "**Fixed findings** (1):\n\n- `overlays/p001` Job/p001-train `job-ttl` (warning)" in above
    assert "**Waivers added** (1):\n\n- `overlays/p003` Job/p003-train waives `job-ttl`: results are collected by a CronJob" in above
    assert "Manifests change but no request does: `overlays/p003`." in above
    assert [m for m in re.findall(r"^### `(.*?)`", out, re.M)] == [
        "overlays/p001", "overlays/p003", "overlays/p004", "overlays/p002", "overlays/p000"]
    assert "p000" not in above  # the unchanged overlay is only in the collapsed section
    assert "<summary>1 unchanged overlay(s)</summary>" in out[fold:]


def test_a_change_the_cluster_cannot_see_says_so(change):
    git(change, "add", "-A")
    git(change, "commit", "-qm", "the change")
    (change / "overlays/README.md").write_text("Our projects.\n")  # no overlay's input
    code, out, _ = run("report", "--all", "--base", "HEAD")
    assert code == 0
    assert out.split("\n")[2] == "This change touches nothing the cluster would see: the 4 overlay(s) render as at `HEAD`."
    assert out.index("<details>") < out.index("### `overlays/p000`")


def test_only_overlays_whose_inputs_changed_render_twice(change, tmp_path_factory):
    """kustomize, wrapped to count its runs: 4 overlays now + p001 and p003 (their folders changed) and
    p002 (removed) at the base; p000 is reused. A change to the shared base renders every overlay twice.
    The render cache is off: this counts what the report asks to render (test_render_cache.py counts hits)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    log = bin_dir / "runs"
    real = shutil.which("kustomize")
    (bin_dir / "kustomize").write_text(f'#!/bin/sh\necho "$2" >> {log}\nexec {real} "$@"\n')
    (bin_dir / "kustomize").chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        mp.setenv("NAUTILUS_RENDER_CACHE", "off")
        assert run("report", "--all", "--base", "HEAD")[0] == 0
        runs = sorted(Path(line).name for line in log.read_text().split())
        assert runs == ["p000", "p001", "p001", "p002", "p003", "p003", "p004"]
        log.unlink()
        job = change / "base/job.yaml"
        job.write_text(job.read_text().replace("backoffLimit: 2", "backoffLimit: 3"))
        assert run("report", "--all", "--base", "HEAD")[0] == 0
        runs = sorted(Path(line).name for line in log.read_text().split())
        assert runs == ["p000", "p000", "p001", "p001", "p002", "p003", "p003", "p004"]


def test_a_component_named_by_an_overlay_is_one_of_its_inputs(change):
    component = change / "components/two-gpus"
    component.mkdir(parents=True)
    (component / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                                  + GPU_PATCH)
    kustomization = change / "overlays/p000/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "components:\n  - ../../components/two-gpus\n")
    git(change, "add", "-A")
    git(change, "commit", "-qm", "the change")
    (component / "kustomization.yaml").write_text((component / "kustomization.yaml").read_text().replace('"2"', '"3"'))
    code, report, _ = run_json("report", "--all", "--base", "HEAD")
    assert report["summary"]["overlays"] == {"changed": 1, "new": 0, "removed": 0, "same": 3}
    assert report["summary"]["workloads"][0]["cells"]["gpus"] == ["2", "3"]


# ---------------------------------------------------------------- fitting a pull-request comment

def test_200_overlays_keep_the_change_to_the_last_one_under_the_limit(tmp_path, monkeypatch):
    overlays = lab(tmp_path, 200)
    change_last_overlay(tmp_path, overlays)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("report", "--all", "--base", "HEAD", "--max-bytes", "60000", "--full", "full.md")
    assert code == 0
    full = (tmp_path / "full.md").read_text()
    assert len(full.encode()) > 60000 and len(re.findall(r"^### `overlays/p\d+`", full, re.M)) == 200
    assert len(out.encode()) <= 60000
    fold = out.index("<details>")
    assert "| overlays/p199 | changed | Job | p199-train | GPUs/pod 1 → 2; worst-case GPU-h 24 → 48 |" in out[:fold]
    assert "### `overlays/p199` (changed)" in out[:fold]
    assert not re.search(r"p(0\d\d|1[0-8]\d|19[0-8])", out[:fold])  # no unchanged overlay above the fold
    assert "> **Left out to fit a pull-request comment:** the per-workload tables of the unchanged overlays" in out
    assert len(re.findall(r"^\| overlays/p\d+ \| 1 \| 8 \|", out[fold:], re.M)) == 199  # one row each, all there
    assert out.rstrip().endswith("</sub>")


def test_a_tight_limit_leaves_out_whole_sections_unchanged_first(change):
    _, full, _ = run("report", "--all", "--base", "HEAD")
    _, out, _ = run("report", "--all", "--base", "HEAD", "--max-bytes", "4000")
    assert len(out.encode()) <= 4000 < len(full.encode())
    summary = full[:full.index("### `")]
    assert out.startswith(summary[:200])
    for line in summary.splitlines():  # the summary, every changed workload, stays
        assert line in out.splitlines()
    note = next(line for line in out.splitlines() if line.startswith("> **Left out"))
    assert "1 unchanged overlay(s) entirely (`overlays/p000`)" in note
    assert re.search(r"the tables of \d changed overlay\(s\) \(`overlays/p\d+`( to `overlays/p\d+`)?; their changes are listed above\)", note)
    kept = [line for line in out.splitlines() if line != note]
    assert set(kept) <= set(full.splitlines())  # whole lines of the full report, none cut


def test_text_from_manifests_cannot_break_out_of_the_comment(change):
    reason = "</details><!-- nautilus-report --> | injected " + "x" * 1000
    patch(change / "overlays/p003", TTL_GONE, TTL_WAIVED.replace("results are collected by a CronJob", reason))
    _, out, _ = run("report", "--all", "--base", "HEAD")
    assert out.count("</details>") == 1 and "<!-- nautilus-report -->" not in out
    line = next(line for line in out.splitlines() if "waives `job-ttl`" in line)
    assert "&lt;/details&gt;&lt;!-- nautilus-report --&gt; \\| injected xxx" in line and len(line) < 500


def test_shaping_options_need_markdown_and_a_writable_file(change):
    code, _, err = run("report", "--all", "--base", "HEAD", "--format", "json", "--max-bytes", "60000")
    assert code == 2 and err.startswith("error: --max-bytes and --full shape the Markdown report")
    (change / "afile").write_text("")
    code, out, err = run("report", "--all", "--base", "HEAD", "--full", "afile/full.md")
    assert code == 2 and err.startswith("error: cannot write afile/full.md") and out == ""


def test_a_summary_too_long_alone_keeps_its_first_lines_and_counts_the_rest(tmp_path, monkeypatch):
    lab(tmp_path, 60)
    job = tmp_path / "base/job.yaml"
    job.write_text(job.read_text().replace('nvidia.com/gpu: "1"', 'nvidia.com/gpu: "2"'))
    monkeypatch.chdir(tmp_path)
    _, full, _ = run("report", "--all", "--base", "HEAD")
    _, out, _ = run("report", "--all", "--base", "HEAD", "--max-bytes", "4000")
    assert len(out.encode()) <= 4000
    rows = re.findall(r"^\| overlays/p\d+ \| changed \| Job \| p\d+-train \| GPUs/pod 1 → 2; .*$", out, re.M)
    assert 0 < len(rows) < 60 and rows == re.findall(r"^\| overlays/p\d+ \| changed .*$", full, re.M)[:len(rows)]
    assert f"... and {60 - len(rows)} more, in the full report." in out
    assert "| GPUs at once | 60 | 120 |" in out
