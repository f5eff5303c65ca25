"""`nautilus new`, `init` and `build`: a requested overlay renders right; every bad input is refused cleanly."""
import subprocess
from fractions import Fraction

import pytest
from ruamel.yaml import YAML

from kube_support import REPO, build, by_kind_name, git, kubeconform_strict, nautilus, run_name, tree
from generator.core import quantity

POLICY = YAML(typ="safe").load((REPO / "schemas/policy.yaml").read_text())


def test_new_two_a10_gpus_renders_and_passes_kubeconform(tmp_path):
    result = nautilus("new", "foo", "--namespace", "gp-engine-lab", "--gpus", "2", "--gpu-product", "NVIDIA-A10",
                      "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    check = kubeconform_strict(tmp_path / "foo")
    assert check.returncode == 0, check.stdout
    objects = by_kind_name(build(tmp_path / "foo"))
    assert {name for _, name in objects} >= {"foo-storage", "foo-data", "foo-train"}
    assert all(doc["metadata"]["namespace"] == "gp-engine-lab" for doc in objects.values())
    pod = objects[("Job", "foo-train")]["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A10"]}]}]
    for side in ("requests", "limits"):  # /dev/shm inside the memory limit, limits within NRP's band
        assert quantity.parse(resources[side]["memory"]) > quantity.parse(
            next(v for v in pod["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"])
    for key in ("cpu", "memory", "ephemeral-storage"):
        ratio = quantity.parse(resources["limits"][key]) / quantity.parse(resources["requests"][key])
        assert 1 <= ratio <= 1.2
    assert not (tmp_path / "foo.dev").exists() and (tmp_path / "foo.results").is_dir()


def test_new_cpu_only_special_resource_and_build(tmp_path):
    assert nautilus("new", "cpu", "--namespace", "ns", "--gpus", "0", "--output-dir", tmp_path).exit_code == 0
    pod = by_kind_name(build(tmp_path / "cpu"))[("Job", "cpu-train")]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    assert pod["containers"][0]["args"][0] == "--nproc-per-node=1"
    assert kubeconform_strict(tmp_path / "cpu").returncode == 0
    result = nautilus("new", "big", "--namespace", "ns", "--gpus", "2", "--gpu-resource", "nvidia.com/a100",
                      "--gpu-quota", "A100 form, ticket 42", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    job = by_kind_name(build(tmp_path / "big"))[("Job", "big-train")]
    limits = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/a100"] == "2" and "nvidia.com/gpu" not in limits
    assert job["metadata"]["annotations"]["nautilus.io/gpu-quota"] == "A100 form, ticket 42"
    printed = nautilus("build", tmp_path / "big")
    assert printed.exit_code == 0 and "name: big-train" in printed.output


def test_gated_gpu_with_opportunistic_priority_needs_no_quota(tmp_path):
    result = nautilus("new", "h", "--namespace", "ns", "--gpu-resource", "nvidia.com/h100",
                      "--priority-class", "opportunistic", "--dev-pod", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    pod = by_kind_name(build(tmp_path / "h"))[("Job", "h-train")]["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "opportunistic"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/h100"] == "1"
    assert kubeconform_strict(tmp_path / "h").returncode == 0
    dev = by_kind_name(build(tmp_path / "h.dev"))[("Pod", "h-dev")]
    assert dev["spec"]["priorityClassName"] == "opportunistic"  # the dev pod reaches its GPU the same way


def test_dev_pod_carries_the_gpu_quota_acknowledgement(tmp_path):
    result = nautilus("new", "q", "--namespace", "ns", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "A100 form",
                      "--dev-pod", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    dev = by_kind_name(build(tmp_path / "q.dev"))[("Pod", "q-dev")]
    assert dev["metadata"]["annotations"]["nautilus.io/gpu-quota"] == "A100 form"
    assert "priorityClassName" not in dev["spec"]


def test_init_writes_bases_that_render(tmp_path):
    assert nautilus("init", tmp_path).exit_code == 0
    assert tree(tmp_path / "base") == tree(REPO / "base")
    assert (tmp_path / "overlays").is_dir()
    result = nautilus("new", "p", "--namespace", "ns", "--output-dir", tmp_path / "overlays")
    assert result.exit_code == 0
    assert "../../base/train" in (tmp_path / "overlays/p/kustomization.yaml").read_text()  # its own bases
    assert kubeconform_strict(tmp_path / "overlays/p").returncode == 0
    again = nautilus("init", tmp_path)
    assert again.exit_code == 2 and again.output.startswith("error: ")


@pytest.mark.parametrize("args", [
    ["Foo_1"],                                                   # not a DNS-1123 label
    ["a" * 47],                                                  # a-...-train-<hash> passes 63 characters
    ["a" * 44, "--nodes", "100"],                                # fits alone, but pod hostname a...-train-<hash>-99 is 64
    ["1abc", "--nodes", "2"],                                    # multinode Service name needs a leading letter
    ["p", "--namespace", "Bad_NS"], ["p", "--namespace", "default"], ["p", "--namespace", "kube-system"],
    ["p", "--gpus", "9"], ["p", "--gpus", "-1"], ["p", "--gpus", "1.5"], ["p", "--gpus", "abc"],
    ["p", "--gpus", "3", "--dev-pod"],
    ["p", "--memory", "12 GB"], ["p", "--memory", "-1"], ["p", "--cpu", "abc"], ["p", "--shm", "32Gi"],
    ["p", "--scratch", "80Gi"], ["p", "--storage", "0"],
    ["p", "--storage-class", "fast-ssd"],
    ["p", "--gpu-product", "NVIDIA-B300"],
    ["p", "--gpus", "0", "--gpu-product", "NVIDIA-A10"],
    ["p", "--gpu-resource", "nvidia.com/a100"],                  # gated without --gpu-quota
    ["p", "--gpu-product", "NVIDIA-A100-SXM4-80GB"],             # A100 nodes offer nvidia.com/a100, not nvidia.com/gpu
    ["p", "--gpu-product", "NVIDIA-A10", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "form"],  # not an A100
    ["p", "--gpu-resource", "amd.com/gpu"],
    ["p", "--priority-class", "owner"],                         # rejected by NRP's quota
    ["p", "--gpu-resource", "nvidia.com/h100", "--priority-class", "armada-default"],  # gated, not opportunistic
    ["p", "--image", "ghcr.io/x/trainer"], ["p", "--image", "ghcr.io/x/trainer:latest"],
    ["p", "--nodes", "0"], ["p", "--dataset", "../etc"],
    ["p", "--image-pull-secret", "Ghcr_Pull"], ["p", "--image-pull-secret", ""],
    ["p", "--cpu", "16", "--dev-pod"],                           # interactive pod's limit passes 16 CPU
])
def test_bad_input_exit_2_one_line_nothing_written(args, tmp_path):
    if "--namespace" not in args:
        args = [*args, "--namespace", "gp-engine-lab"]
    result = nautilus("new", *args, "--output-dir", tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1 and "; " in result.output
    assert list(tmp_path.iterdir()) == []


def test_existing_overlay_needs_force(tmp_path):
    assert nautilus("new", "p", "--namespace", "ns", "--output-dir", tmp_path).exit_code == 0
    before = tree(tmp_path)
    result = nautilus("new", "p", "--namespace", "ns", "--gpus", "4", "--output-dir", tmp_path)
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert tree(tmp_path) == before
    assert nautilus("new", "p", "--namespace", "ns", "--gpus", "4", "--force", "--output-dir", tmp_path).exit_code == 0
    assert tree(tmp_path) != before and sorted(p.name for p in tmp_path.iterdir()) == ["p", "p.results"]


def test_force_without_dev_pod_keeps_the_dev_overlay_and_says_so(tmp_path):
    # The .dev folder may manage a running pod: only `kubectl delete -k` on it stops that pod.
    assert nautilus("new", "p", "--namespace", "ns", "--dev-pod", "--output-dir", tmp_path).exit_code == 0
    dev = tree(tmp_path / "p.dev")
    result = nautilus("new", "p", "--namespace", "ns", "--gpus", "2", "--force", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert tree(tmp_path / "p.dev") == dev
    assert f"note: kept {tmp_path / 'p.dev'}" in result.output and "kubectl delete -k" in result.output
    assert [d["metadata"]["name"] for d in build(tmp_path / "p.dev")] == ["p-dev"]


def test_results_pod_reaches_the_volume_without_a_gpu(tmp_path):
    assert nautilus("new", "r", "--namespace", "ns", "--gpus", "4", "--output-dir", tmp_path).exit_code == 0
    assert kubeconform_strict(tmp_path / "r.results").returncode == 0
    docs = build(tmp_path / "r.results")
    assert [(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) for d in docs] == [("Pod", "r-results", "ns")]
    pod, data = docs[0]["spec"], by_kind_name(build(tmp_path / "r"))[("Job", "r-data")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["volumes"] == [v for v in data["volumes"] if v["name"] == "data"]
    assert container["image"] == data["containers"][0]["image"]
    assert pod["affinity"] == data["affinity"]  # off GPU nodes
    assert not any(key.startswith("nvidia.com/") for side in container["resources"].values() for key in side)
    for side in ("requests", "limits"):  # inside NRP's exemption from the utilisation bands
        assert quantity.parse(container["resources"][side]["cpu"]) <= 1
        assert quantity.parse(container["resources"][side]["memory"]) <= 2 * 10**9
    assert 0 < pod["activeDeadlineSeconds"] <= 21600
    assert pod["securityContext"] == data["securityContext"]
    assert container["securityContext"] == data["containers"][0]["securityContext"]


@pytest.mark.parametrize("target", ["missing", "a-file", "/proc"])  # /proc: unwritable even for root
def test_missing_or_unwritable_target(target, tmp_path):
    (tmp_path / "a-file").write_text("")
    output = tmp_path / target if not target.startswith("/") else target
    before = tree(tmp_path)
    result = nautilus("new", "p", "--namespace", "ns", "--output-dir", output)
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert tree(tmp_path) == before


def test_every_command_help_shows_an_example():
    for command in ("new", "init", "build"):
        assert "Example:" in nautilus(command, "--help").output


@pytest.mark.parametrize("extra", [[], ["--priority-class", "opportunistic", "--nodes", "2"]])
def test_image_pull_secret_reaches_every_pod(tmp_path, extra):
    result = nautilus("new", "p", "--namespace", "ns", "--image-pull-secret", "ghcr-pull", "--dev-pod", *extra,
                      "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    pods = [(d["metadata"]["name"], d["spec"]["template"]["spec"] if d["kind"] == "Job" else d["spec"])
            for folder in ("p", "p.dev", "p.results") for d in build(tmp_path / folder) if d["kind"] in ("Job", "Pod")]
    assert sorted(run_name(name) for name, _ in pods) == ["p-data", "p-dev", "p-results", "p-train"]
    assert all(spec["imagePullSecrets"] == [{"name": "ghcr-pull"}] for _, spec in pods), pods
    for folder in ("p", "p.dev", "p.results"):
        assert kubeconform_strict(tmp_path / folder).returncode == 0, folder
    assert nautilus("validate", tmp_path / "p", tmp_path / "p.dev", tmp_path / "p.results").exit_code == 0


def test_without_a_pull_secret_no_pod_names_one(tmp_path):
    assert nautilus("new", "p", "--namespace", "ns", "--dev-pod", "--output-dir", tmp_path).exit_code == 0
    assert not (tmp_path / "p/pull-secret.yaml").exists() and not (tmp_path / "p.dev/access.yaml").exists()
    assert not (tmp_path / "p.results/pull-secret.yaml").exists()
    assert "imagePullSecrets" not in nautilus("build", tmp_path / "p").output


def test_default_sizes_are_measured_scaled_by_gpus_and_overridable(tmp_path):
    """schemas/sizing.yaml's formula, scaled by --gpus, inside NRP's limit ratio; explicit sizes win;
    the bases carry the sizes of one GPU and of the data stage."""
    from generator.scaffold import sizing

    ratio = Fraction(str(POLICY["requests"]["generator_limit_ratio"]))
    sizes = {}
    for gpus in ("1", "4", "8"):
        assert nautilus("new", f"p{gpus}", "--namespace", "ns", "--gpus", gpus, "--output-dir", tmp_path).exit_code == 0
        pod = by_kind_name(build(tmp_path / f"p{gpus}"))[("Job", f"p{gpus}-train")]["spec"]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        shm = next(v for v in pod["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"]
        sizes[gpus] = (resources["requests"]["cpu"], resources["requests"]["memory"], shm)
        assert sizes[gpus] == tuple(sizing.train(int(gpus)).values())
        for key in ("cpu", "memory"):
            assert quantity.parse(resources["limits"][key]) <= ratio * quantity.parse(resources["requests"][key])
    assert sizes == {"1": ("2", "7Gi", "1Gi"), "4": ("8", "22Gi", "4Gi"), "8": ("16", "43Gi", "8Gi")}
    assert nautilus("new", "big", "--namespace", "ns", "--cpu", "6", "--memory", "30Gi", "--output-dir", tmp_path).exit_code == 0
    requests = by_kind_name(build(tmp_path / "big"))[("Job", "big-train")]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert (requests["cpu"], requests["memory"]) == ("6", "30Gi")

    base = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for doc in ("train", "data") for d in build(REPO / "base" / doc)}
    for name, want in (("train", sizing.train(1)), ("data", sizing.data())):
        container = base[name]["containers"][0]["resources"]["requests"]
        shm = next(v for v in base[name]["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"]
        assert (container["cpu"], container["memory"], shm) == (want["cpu"], want["memory"], want["shm"]), name


def _flat(text: str) -> str:
    """Help text as one line: click wraps at 80 columns, also after a hyphen."""
    return " ".join(text.split()).replace("- ", "-")


def test_counts_show_a_number_and_priority_classes_are_listed_in_the_help():
    shown = nautilus("new", "--help").output
    for option in ("--gpus", "--nodes", "--parallel"):
        assert f"{option} N " in shown and f"{option} TEXT" not in shown
    assert f"one of: {', '.join(POLICY['priority_classes']['allowed'])};" in _flat(shown)


def test_counts_keep_their_one_line_errors():
    for option, value in (("--gpus", "abc"), ("--nodes", "0"), ("--parallel", "x")):
        result = nautilus("new", "p", "--namespace", "ns", "--sweep", "train.lr=1,2" if option == "--parallel" else "train.lr=1",
                          option, value, "--output-dir", "/nonexistent")
        assert result.exit_code == 2 and result.output.startswith(f"error: {option} '{value}' is not a whole number from ")


def test_top_level_help_names_each_command_in_full():
    from generator.cli import main
    shown = nautilus("--help").output
    commands = shown.split("Commands:")[1]
    assert "..." not in commands
    for name, command in main.commands.items():
        assert _flat(f"{name} {command.short_help}") in _flat(commands)


def test_version_is_the_installed_package_version():
    from importlib.metadata import version
    result = nautilus("--version")
    assert (result.exit_code, result.output) == (0, f"nautilus, version {version('nautilus-ml-template')}\n")


def test_help_examples_stage_the_data_before_the_whole_overlay():
    """As the README's step 4: the data stage first, so that no GPU waits on a download."""
    for args in (["--help"], ["new", "--help"]):
        applies = [line.strip() for line in nautilus(*args).output.splitlines() if line.strip().startswith("kubectl apply")]
        assert applies and "nautilus.io/stage in (storage,config,data)" in applies[0], applies


def test_force_over_edits_refuses_listing_them_and_discarding_keeps_a_copy(tmp_path):
    """The walk's case: train.yaml edited by hand and a sweep.yaml of the user's own, then `new --force`."""
    assert nautilus("new", "p", "--namespace", "ns", "--output-dir", tmp_path).exit_code == 0
    (tmp_path / "p/train.yaml").write_text((tmp_path / "p/train.yaml").read_text() + "# lr tried by hand\n")
    (tmp_path / "p/sweep.yaml").write_text("train.lr: [1.0e-4, 2.0e-4]\n")
    before = tree(tmp_path)
    result = nautilus("new", "p", "--namespace", "ns", "--gpus", "2", "--force", "--output-dir", tmp_path)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: files edited since nautilus wrote them would be lost: {tmp_path / 'p'} "
                                    "(sweep.yaml, train.yaml); ") and "--discard-edits" in result.output
    assert tree(tmp_path) == before
    result = nautilus("new", "p", "--namespace", "ns", "--gpus", "2", "--force", "--discard-edits", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    [copy] = (tmp_path / ".discarded").glob("p-*")
    assert f"note: replaced the edited {tmp_path / 'p'}; its files as they were are in {copy}" in result.output
    assert {name: data for name, data in tree(copy).items()} == {name[2:]: data for name, data in before.items()
                                                                  if name.startswith("p/")}
    assert not (tmp_path / "p/sweep.yaml").exists()
    git(tmp_path, "init", "-q")  # the copies never show up in the user's git status
    assert ".discarded" not in git(tmp_path, "status", "--porcelain", "--untracked-files=all")


def test_force_over_an_overlay_as_nautilus_wrote_it_needs_no_discarding(tmp_path):
    assert nautilus("new", "p", "--namespace", "ns", "--dev-pod", "--output-dir", tmp_path).exit_code == 0
    assert "train.yaml" in (tmp_path / "p/.nautilus-written.sha256").read_text()
    check = subprocess.run(["sha256sum", "--check", "--quiet", ".nautilus-written.sha256"], cwd=tmp_path / "p")
    assert check.returncode == 0  # the record is sha256sum's format
    result = nautilus("new", "p", "--namespace", "ns", "--gpus", "2", "--dev-pod", "--force", "--output-dir", tmp_path)
    assert result.exit_code == 0 and "note: replaced" not in result.output, result.output
    assert not (tmp_path / ".discarded").exists()


def test_an_overlay_without_a_record_counts_as_edited(tmp_path):
    assert nautilus("new", "p", "--namespace", "ns", "--output-dir", tmp_path).exit_code == 0
    (tmp_path / "p/.nautilus-written.sha256").unlink()  # written by hand, or by a nautilus that kept no record
    result = nautilus("new", "p", "--namespace", "ns", "--force", "--output-dir", tmp_path)
    assert result.exit_code == 2 and "(kustomization.yaml, resources.yaml, storage.yaml, train.yaml)" in result.output


def test_the_train_container_sets_the_pods_request_and_the_init_container_is_small(tmp_path):
    """The init container `prepare` only checks that the dataset is published: sized by schemas/sizing.yaml's
    `prepare` in base/train, never in the overlay, so what the user edits in resources.yaml is the pod's request."""
    from generator.core.schemas import sizing
    from generator.policy.workload import workload
    from generator.scaffold.options import limits

    ratio = Fraction(str(POLICY["requests"]["generator_limit_ratio"]))
    base = next(d for d in build(REPO / "base" / "train") if d["kind"] == "Job")["spec"]["template"]["spec"]
    want = {k: str(v) for k, v in sizing()["prepare"].items()}
    prepare = base["initContainers"][0]["resources"]
    assert prepare == {"requests": want, "limits": {k: limits(v, ratio, "cpu" if k == "cpu" else "bytes") for k, v in want.items()}}

    assert nautilus("new", "p", "--namespace", "ns", "--output-dir", tmp_path).exit_code == 0
    resources = tmp_path / "p" / "resources.yaml"
    assert "initContainers" not in YAML(typ="safe").load(resources.read_text())["spec"]["template"]["spec"]
    text = resources.read_text().replace('cpu: "2"', 'cpu: "1"').replace("cpu: 2200m", "cpu: 1100m")
    resources.write_text(text)
    job = by_kind_name(build(tmp_path / "p"))[("Job", "p-train")]
    assert workload(job).total("cpu") == 1 and workload(job).total("cpu", "limits") == Fraction(11, 10)
