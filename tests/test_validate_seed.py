"""The original four-file template (pvc, data pod, train pod, train job), rewritten from its description in
the NRP notes (tests/validate/seed/), gets exactly the findings NRP's rules and the project's stated
conventions imply: each expected id below says why, and nothing else may fire."""
import copy

from validate.support import HERE, load_yaml, run_json, write_yaml

SEED = HERE / "seed"
SECURITY = ["capabilities", "privilege-escalation", "run-as-non-root", "seccomp"]  # no securityContext at all:
# the project's least-privilege rules (Pod Security "restricted", docs/rules.md) fail on every pod of the seed

EXPECTED = {
    # 100Gi rook-ceph-block, ReadWriteOnce: an NRP class and a mode it supports; nothing to say.
    "pvc.yml": [],
    # A bare CPU pod: NRP allows sleeping there (it deletes bare pods after 6 h), so the `sleep infinity`
    # behind the script's `#` comments is a warning (pod-sleep), with the missing 6-hour bound (pod-runtime);
    # it may land on a GPU node (cpu-off-gpu-nodes, NRP's scheduling advice); `pytorch/pytorch` has no tag
    # (image-pinned). Requests 10/20Gi with limits 12/24Gi are exactly 1.2 x: inside NRP's band, no finding;
    # /dev/shm 8Gi has a sizeLimit under the 24Gi memory limit: no finding.
    "data_pod.yml": sorted(SECURITY + ["cpu-off-gpu-nodes", "image-pinned", "pod-runtime", "pod-sleep"]),
    # A bare 1-GPU pod that sleeps: the same two warnings; 1 GPU, 12 CPU and 24Gi are within a bare pod's
    # caps (2, 16, 32Gi); no GPU model chosen is advice only (gpu-affinity, info).
    "train_pod.yml": sorted(SECURITY + ["gpu-affinity", "image-pinned", "pod-runtime", "pod-sleep"]),
    # The Job ends by itself (no sleep): no sleep-forever. backoffLimit 1 and restartPolicy Never are set;
    # no ttlSecondsAfterFinished (NRP keeps it a week: job-ttl) and no activeDeadlineSeconds (job-deadline).
    "train_job.yml": sorted(SECURITY + ["gpu-affinity", "image-pinned", "job-deadline", "job-ttl"]),
}
SEVERITY = {"pod-sleep": "warning", "pod-runtime": "warning", "cpu-off-gpu-nodes": "warning", "job-ttl": "warning",
            "job-deadline": "warning", "gpu-affinity": "info"}


def _by_file(report) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list] = {}
    for finding in report["findings"]:
        found.setdefault(finding["source"].rsplit("/", 1)[-1], []).append((finding["rule"], finding["severity"]))
    return found


def test_seed_files_get_exactly_the_findings_nrp_implies():
    code, report, _ = run_json("validate", *sorted(SEED.glob("*.yml")))
    found = _by_file(report)
    assert code == 1  # errors: untagged images and no securityContext
    for name, rules in EXPECTED.items():
        assert sorted(rule for rule, _ in found.get(name, [])) == rules, name
        assert all(severity == SEVERITY.get(rule, "error") for rule, severity in found.get(name, [])), name


def test_seed_data_script_run_as_a_job_is_the_banned_sleep(tmp_path):
    """The data pod's script (comments, then `sleep infinity`) in a Job: NRP bans users for it."""
    pod, job = load_yaml(SEED / "data_pod.yml"), load_yaml(SEED / "train_job.yml")
    job = copy.deepcopy(job)
    job["spec"]["template"]["spec"]["containers"] = pod["spec"]["containers"]
    code, report, _ = run_json("validate", write_yaml(tmp_path / "data_job.yml", job))
    sleeping = [f for f in report["findings"] if f["rule"] == "sleep-forever"]
    assert code == 1 and len(sleeping) == 1 and sleeping[0]["severity"] == "error"
    assert "container data: `sleep infinity` never ends" in sleeping[0]["message"]
