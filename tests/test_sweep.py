"""Sweeps: `nautilus new --sweep` writes one Indexed Job over the variants of sweep.yaml; `validate` checks
the variants and the Job against each other; bad sweeps are refused with the variant and key named."""
import json
import subprocess

import pytest

from kube_support import build, by_kind_name, kubeconform_strict, nautilus, run_name
from trainer.variants import MAX_VARIANTS, SweepError, expand, read
from generator.core.schemas import sweep_schema

SWEEP = ["--sweep", "train.lr=1e-4,2e-4", "--sweep", "train.lambda_identity=0,0.5"]


def new_sweep(tmp_path, *extra, name="lrs"):
    result = nautilus("new", name, "--namespace", "gp-engine-lab", "--gpus", "2", *SWEEP, "--parallel", "2", *extra,
                      "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    return tmp_path / name


def test_new_sweep_writes_one_indexed_job_with_the_sweep_in_its_config(tmp_path):
    overlay = new_sweep(tmp_path)
    objects = by_kind_name(build(overlay))
    job = objects[("Job", "lrs-train")]
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 2)
    assert spec["backoffLimitPerIndex"] >= 1 and "backoffLimit" not in spec  # retries per variant, none shared
    actions = {rule["action"] for rule in spec["podFailurePolicy"]["rules"]}
    assert actions == {"Ignore", "FailIndex"}  # a bad variant fails its index, never the whole Job
    assert spec["activeDeadlineSeconds"] == 2 * 259200  # two rounds of two variants, 3 days each
    pod = spec["template"]["spec"]
    assert pod["containers"][0]["args"][:4] == ["--nproc-per-node=gpu", "-m", "trainer.sweep", "trainer.train"]
    assert pod["initContainers"][0]["command"][:4] == ["python", "-m", "trainer.sweep", "trainer.prepare"]
    config = next(o for (kind, name), o in objects.items() if kind == "ConfigMap" and name.startswith("lrs-train-"))
    assert pod["volumes"][[v["name"] for v in pod["volumes"]].index("config")]["configMap"]["name"] == config["metadata"]["name"]
    names = [v.name for v in expand(read(config["data"]["sweep.yaml"], "sweep.yaml"), sweep_schema())]
    assert names == ["lr0.0001-lambda_identity0", "lr0.0001-lambda_identity0.5",
                     "lr0.0002-lambda_identity0", "lr0.0002-lambda_identity0.5"]
    assert (overlay / "sweep.yaml").read_text().count("train.lr: [0.0001, 0.0002]") == 1
    assert kubeconform_strict(overlay).returncode == 0
    result = nautilus("validate", overlay)
    assert result.exit_code == 0, result.output


def test_cpu_only_sweep_keeps_one_process_per_pod(tmp_path):
    result = nautilus("new", "c", "--namespace", "ns", "--gpus", "0", "--sweep", "train.seed=0,1,2", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    job = by_kind_name(build(tmp_path / "c"))[("Job", "c-train")]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:4] == ["--nproc-per-node=1", "-m", "trainer.sweep", "trainer.train"]
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (3, 1)


def edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))


def test_validate_names_the_bad_variant_and_key_and_a_completions_mismatch(tmp_path):
    overlay = new_sweep(tmp_path)
    edit(overlay / "sweep.yaml", "variants: []", "variants: [{name: wild, set: {train.lr: -1}}]")
    result = nautilus("validate", overlay)
    assert result.exit_code == 1
    assert "sweep-config: sweep.yaml variant 5 of 5 (wild, completion index 4) train.lr: -1 is less than" in result.output
    assert "sweep-job: has completions 4 but sweep.yaml makes 5 variants" in result.output
    edit(overlay / "sweep.yaml", "train.lr: -1", "train.lr: 0.001")
    edit(overlay / "sweep-job.yaml", "completions: 4", "completions: 5")
    assert nautilus("validate", overlay).exit_code == 0


def test_more_gpu_pods_at_once_than_nrp_tolerates_out_of_band_is_a_warning(tmp_path):
    overlay = new_sweep(tmp_path)
    edit(overlay / "sweep-job.yaml", "parallelism: 2", "parallelism: 4")
    assert "job-gpus-at-once" not in nautilus("validate", overlay).output
    edit(overlay / "sweep.yaml", "variants: []", "variants: [{name: long, set: {train.epochs: 200}}]")
    edit(overlay / "sweep-job.yaml", "completions: 4", "completions: 5")
    edit(overlay / "sweep-job.yaml", "parallelism: 4", "parallelism: 5")
    result = nautilus("validate", overlay)
    assert result.exit_code == 0  # a warning
    assert "job-gpus-at-once: warning: runs 5 pods x 2 GPUs = 10 GPUs at once" in result.output


@pytest.mark.parametrize("args, message", [
    (["--sweep", "train.lr=1e-4,-1"], "variant 2 of 2 (lr-1, completion index 1) train.lr"),
    (["--sweep", "train.lr"], "is not KEY=VALUE,VALUE"),
    (["--sweep", "lr=1,2"], "--sweep grid: "),
    (["--sweep", "train.lr=1,2", "--sweep", "train.lr=3"], "names train.lr twice"),
    (["--sweep", "train.bogus=1,2"], "train.bogus"),
    (["--sweep", "train.seed=" + ",".join(map(str, range(MAX_VARIANTS + 1)))], f"more than {MAX_VARIANTS}"),
    (["--sweep", "train.seed=1,1"], "same name as variant 1"),
    (["--sweep", "train.lr=1e-4,2e-4", "--parallel", "3"], "--parallel 3 is more than the 2 variants"),
    (["--sweep", "train.lr=1e-4,2e-4", "--parallel", "0"], "--parallel '0' is not a whole number"),
    (["--parallel", "2"], "--parallel given without --sweep"),
    (["--sweep", "train.lr=1e-4,2e-4", "--nodes", "2"], "--sweep with --nodes"),
])
def test_bad_sweep_exit_2_one_line_nothing_written(args, message, tmp_path):
    result = nautilus("new", "p", "--namespace", "ns", *args, "--output-dir", tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1 and "; " in result.output
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_expansion_order_names_and_bounds():
    doc = {"grid": {"train.lr": [0.1, 0.2], "train.flip": [True, False]},
           "variants": [{"name": "base"}, {"name": "big", "set": {"model.ngf": 128}}]}
    found = expand(doc, sweep_schema())
    assert [(v.index, v.name) for v in found] == [(0, "lr0.1-fliptrue"), (1, "lr0.1-flipfalse"), (2, "lr0.2-fliptrue"),
                                                  (3, "lr0.2-flipfalse"), (4, "base"), (5, "big")]
    assert found[5].values == {"model.ngf": 128} and found[4].values == {}
    for bad, said in [({"grid": {}}, "declares no variant"), ({"variants": [{"name": "../x"}]}, "is not a folder name"),
                      ({"variants": [{"name": "samples"}]}, "is not a folder name"), ({"other": 1}, "top level"),
                      ({"grid": {"train.lr": [1] * 65}}, "makes 65 variants, more than 64")]:
        with pytest.raises(SweepError, match=said):
            expand(bad, sweep_schema())
    with pytest.raises(SweepError, match="over 64 KiB"):
        read("#" * (65 * 1024), "sweep.yaml")


def test_report_lists_the_variants_and_shows_a_change_of_variants_or_parallelism_against_the_base(tmp_path, monkeypatch):
    assert nautilus("init", tmp_path).exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert nautilus("new", "lrs", "--namespace", "ns", "--gpus", "2", "--sweep", "train.lr=1e-4,2e-4", "--parallel", "2",
                    "--image", "ghcr.io/x/trainer:v1").exit_code == 0
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "sweep of two"]):
        subprocess.run([*git, *args], cwd=tmp_path, check=True, capture_output=True)
    overlay = tmp_path / "overlays" / "lrs"
    edit(overlay / "sweep.yaml", "variants: []", "variants: [{name: long, set: {train.epochs: 200}}]")
    edit(overlay / "sweep-job.yaml", "completions: 2", "completions: 3")
    edit(overlay / "sweep-job.yaml", "parallelism: 2", "parallelism: 3")
    result = nautilus("report", "overlays/lrs", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output[result.output.index("{"):])["overlays"]
    (train,) = [w for w in entry["workloads"] if w["after"] and run_name(w["after"]["name"]) == "lrs-train"]
    assert train["change"] == "changed"
    assert train["before"]["variants"] == "2: lr0.0001 (train.lr=0.0001); lr0.0002 (train.lr=0.0002)"
    assert train["after"]["variants"] == "3: lr0.0001 (train.lr=0.0001); lr0.0002 (train.lr=0.0002); long (train.epochs=200)"
    assert (train["before"]["pods"], train["after"]["pods"]) == ("2 indexed", "3 indexed")
    # worst-case GPU-hours of the whole sweep: 2 GPUs x pods at once x the deadline (3 days per round)
    assert (train["before"]["gpu_hours"], train["after"]["gpu_hours"]) == (str(2 * 2 * 72), str(2 * 3 * 72))
    markdown = nautilus("report", "overlays/lrs", "--base", "HEAD").output
    assert "2 indexed → 3 indexed" in markdown and "2: lr0.0001 (train.lr=0.0001); lr0.0002" in markdown
