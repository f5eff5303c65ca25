"""What `nautilus new` writes and refuses, read from the files it writes (no rendering: fast enough to pin
every branch of generator/scaffold/options.py). tests/test_new.py renders the same overlays with the real kustomize."""
from fractions import Fraction

import pytest
from ruamel.yaml import YAML

from generator.scaffold import options as scaffold
from trainer.errors import UsageError
from generator.core.schemas import policy as nrp_policy
from kube_support import REPO, nautilus

IMAGE = "ghcr.io/lab/trainer:v1"
DIGEST = "sha256:" + "ab" * 32


def new(root, name="p", *args):
    """`nautilus new` into root/overlays, beside root/base; (exit code, output, {folder/file: parsed YAML})."""
    (root / "overlays").mkdir(parents=True, exist_ok=True)
    if not (root / "base").exists():
        (root / "base").symlink_to(REPO / "base")
    result = nautilus("new", name, "--namespace", "ns", "--image", IMAGE, *args, "--output-dir", root / "overlays")
    files = {str(path.relative_to(root / "overlays")): YAML(typ="safe").load(path.read_text())
             for path in sorted((root / "overlays").rglob("*.yaml"))}
    return result.exit_code, result.output, files


def pod_of(files, name="p/resources.yaml"):
    return files[name]["spec"]["template"]["spec"]


# Each refused input names what is wrong (before the `;`) and how to fix it (after it).
@pytest.mark.parametrize("args, what, fix", [
    (["--cpu", "abc"], "error: --cpu 'abc' is not a Kubernetes quantity", "write it like 8 or 1500m"),
    (["--cpu", "1500u"], "error: --cpu '1500u' is finer than a millicore", "write it like 8 or 1500m"),
    (["--memory", "12 GB"], "error: --memory '12 GB' is not a Kubernetes quantity", "write it like 16Gi"),
    (["--memory", "17Ti"], "error: --memory '17Ti' is outside", "write it like 16Gi"),
    (["--shm", "abc"], "error: --shm 'abc' is not a Kubernetes quantity", "write it like 8Gi"),
    (["--scratch", "abc"], "error: --scratch 'abc' is not a Kubernetes quantity", "write it like 20Gi"),
    (["--storage", "0"], "error: --storage '0' is outside", "write it like 50Gi"),
    (["--memory", "8Gi", "--shm", "8Gi"], "error: --shm 8Gi is not below --memory 8Gi", "raise --memory or lower --shm"),
    (["--scratch", "51Gi"], "error: --scratch 51Gi is above NRP's 50Gi per container", "keep large data on the volume"),
    (["--storage-class", "fast-ssd"], "error: unknown storage class 'fast-ssd'", "use one of rook-cephfs, "),
    (["--gpu-resource", "amd.com/gpu"], "error: unknown GPU resource 'amd.com/gpu'", "use nvidia.com/gpu or one of "),
    (["--priority-class", "owner"], "error: priority class 'owner' is not allowed on NRP", "use one of "),
    (["--gpu-resource", "nvidia.com/a100"], "error: nvidia.com/a100 needs a namespace quota", "--gpu-quota '<how>'"),
    (["--gpu-resource", "nvidia.com/h100", "--priority-class", "armada-default"],
     "error: nvidia.com/h100 needs a namespace quota", "--priority-class opportunistic"),
    (["--gpus", "0", "--gpu-product", "NVIDIA-A10"], "error: --gpu-product given with --gpus 0",
     "ask for at least one GPU or drop --gpu-product"),
    (["--gpu-product", "bad value", "--allow-unknown-product"], "error: --gpu-product 'bad value' is not a label value",
     "use at most 63 letters"),
    (["--gpu-product", "A" * 64, "--allow-unknown-product"], "is not a label value", "use at most 63 letters"),
    (["--gpu-product", "NVIDIA-B300"], "error: NVIDIA-B300 is not a GPU product NRP offers", "or pass --allow-unknown-product"),
    (["--gpu-product", "NVIDIA-A1O"], "error: NVIDIA-A1O is not a GPU product NRP offers",
     "did you mean NVIDIA-A10? (or pass --allow-unknown-product"),
    (["--gpu-product", "Quadro-RTX-600"], "error: Quadro-RTX-600 is not a GPU product NRP offers",
     "did you mean Quadro-RTX-6000? (or pass --allow-unknown-product"),
    (["--gpu-product", "B300"], "error: B300 is not a GPU product NRP offers",
     "NRP offers NVIDIA-GeForce-GTX-1080-Ti, NVIDIA-GeForce-RTX-2080-Ti, "),
    (["--gpu-product", "NVIDIA-A100-SXM4-80GB"], "error: NVIDIA-A100-SXM4-80GB is not offered as nvidia.com/gpu",
     "pass --gpu-resource nvidia.com/a100"),
    (["--gpus", "3", "--dev-pod"], "error: --gpus 3 with --dev-pod: NRP allows 2 GPUs in an interactive pod",
     "use --gpus 2 or less, or drop --dev-pod"),
    (["--cpu", "15", "--dev-pod"], "error: --cpu 15 / --memory ", "lower --cpu/--memory or drop --dev-pod"),
    (["--memory", "30Gi", "--dev-pod"], "/ --memory 30Gi with --dev-pod: the interactive pod's limits pass NRP's 16 CPU / 32Gi",
     "lower --cpu/--memory or drop --dev-pod"),
    (["--parallel", "2"], "error: --parallel given without --sweep", "add --sweep KEY=V1,V2 or drop --parallel"),
    (["--sweep", "train.lr=1e-4,2e-4", "--nodes", "2"], "error: --sweep with --nodes", "drop --nodes"),
    (["--sweep", "train.lr=abc"], "error: --sweep: variant 1 of 1 (lrabc, completion index 0) train.lr: 'abc' is not "
     "of type 'number'", "fix the value"),  # refused before anything is written, not by the pod on a GPU
    (["--image", "ghcr.io/x/trainer"], "error: --image 'ghcr.io/x/trainer' is not pinned to a version", "e.g. registry/"),
    (["--image", "Not An Image"], "error: --image ", "name a valid reference"),
    (["--image-pull-secret", "Ghcr_Pull"], "error: --image-pull-secret 'Ghcr_Pull' is not a Secret name",
     "use the name of the docker-registry secret"),
    (["--image-pull-secret", "a" * 254], "is not a Secret name", "use the name of the docker-registry secret"),
    (["--dataset", "../etc"], "error: --dataset '../etc' is not a dataset name", "e.g. horse2zebra"),
    (["--gpus", "9"], "error: --gpus '9' is not a whole number from 0 to 8", "ask for whole GPUs"),
    (["--gpus", "1.5"], "error: --gpus '1.5' is not a whole number from 0 to 8", "ask for whole GPUs"),
    (["--nodes", "0"], "error: --nodes '0' is not a whole number from 1 to ", "use --nodes 1 or more"),
])
def test_refused_options_name_the_problem_and_the_fix(tmp_path, args, what, fix):
    code, output, files = new(tmp_path, "p", *args)
    assert code == 2 and files == {}
    problem, _, how = output.partition("; ")
    assert problem.startswith(what) if what.startswith("error:") else what in problem, output
    assert fix in how, output


@pytest.mark.parametrize("name, args, what", [
    ("Foo_1", [], "error: NAME 'Foo_1' is not a DNS-1123 label"),
    ("p", ["--namespace", "Bad_NS"], "error: --namespace 'Bad_NS' is not a DNS-1123 label"),
    ("p", ["--namespace", "default"], "error: --namespace default is one of the cluster's own namespaces"),
    ("a" * 64, [], "is not a DNS-1123 label"),
    ("a" * 47, [], f"error: NAME '{'a' * 47}' makes '{'a' * 47}-train-<hash>' 64 characters long, above Kubernetes' 63"),
    ("a" * 44, ["--nodes", "100"], f"makes '{'a' * 44}-train-<hash>-99' 64 characters long"),
    ("1abc", ["--nodes", "2"], "error: NAME '1abc' must start with a letter with --nodes"),
])
def test_refused_names(tmp_path, name, args, what):
    code, output, files = new(tmp_path, name, *args)
    assert code == 2 and files == {}
    assert (output.startswith(what) if what.startswith("error:") else what in output), output


def test_a_long_name_is_told_how_much_to_shorten(tmp_path):
    code, output, files = new(tmp_path, "a" * 48)  # a...-train-<hash>: the Jobs' run hash counts (10 and a dash)
    assert (code, files) == (2, {}) and output.rstrip().endswith("; shorten NAME by 2 characters"), output


def test_names_at_the_limits_are_accepted(tmp_path):
    assert new(tmp_path / "a", "a" * 46)[0] == 0  # a...-train-<hash> is 63 characters
    assert new(tmp_path / "b", "a" * 44, "--nodes", "10")[0] == 0  # a...-train-<hash>-9 is 63
    assert new(tmp_path / "c", "p", "--nodes", "2")[0] == 0
    assert new(tmp_path / "d", "p1", "--namespace", "n" * 63)[0] == 0
    assert new(tmp_path / "e", "9lives")[0] == 0  # a leading digit is fine without --nodes (no Service)
    assert new(tmp_path / "f", "p", "--scratch", "50Gi")[0] == 0  # NRP's cap itself is allowed
    assert new(tmp_path / "g", "p", "--gpu-product", "G" * 63, "--allow-unknown-product")[0] == 0
    assert new(tmp_path / "h", "p", "--image-pull-secret", "s" * 253)[0] == 0


def test_gpu_product_offered_under_a_special_resource_and_unknown_products(tmp_path):
    code, output, files = new(tmp_path / "a", "p", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "form",
                              "--gpu-product", "NVIDIA-A100-SXM4-80GB")
    assert code == 0, output
    code, output, files = new(tmp_path / "b", "p", "--gpu-product", "NVIDIA-B300", "--allow-unknown-product")
    assert code == 0, output
    terms = pod_of(files, "p/gpu.yaml")["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["NVIDIA-B300"]
    assert files["p/gpu.yaml"]["metadata"]["annotations"] == {  # validate's gpu-product error, waived with the reason
        "waive.nautilus.io/gpu-product": "NVIDIA-B300: newer than schemas/policy.yaml's products (nautilus new --allow-unknown-product)"}


def test_a_gated_gpu_with_quota_or_opportunistic_or_no_gpu_at_all(tmp_path):
    assert new(tmp_path / "a", "p", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "form")[0] == 0
    assert new(tmp_path / "b", "p", "--gpu-resource", "nvidia.com/h100", "--priority-class", "opportunistic2")[0] == 0
    assert new(tmp_path / "c", "p", "--gpu-resource", "nvidia.com/h100", "--gpus", "0")[0] == 0


def test_dev_pod_at_the_interactive_caps(tmp_path):
    # 2 GPUs; limits are requests x 1.1: 14 CPU -> 15.4 and 29Gi -> 31.9Gi stay inside 16 CPU / 32Gi.
    code, output, files = new(tmp_path, "p", "--gpus", "2", "--cpu", "14", "--memory", "29Gi", "--dev-pod")
    assert code == 0, output
    assert "p.dev/kustomization.yaml" in files
    # 14546m x 1.1 is 16000.6m, written as the limit 16000m: NRP's cap exactly
    code, output, files = new(tmp_path / "exact", "p", "--cpu", "14546m", "--dev-pod")
    assert code == 0 and pod_of(files)["containers"][0]["resources"]["limits"]["cpu"] == "16", output
    assert new(tmp_path / "over", "p", "--cpu", "14547m", "--dev-pod")[0] == 2
    # 30504100Ki x 1.1 is 32768.07Mi, written as the limit 32768Mi: NRP's 32Gi exactly
    code, output, files = new(tmp_path / "exact-memory", "p", "--memory", "30504100Ki", "--dev-pod")
    assert code == 0 and pod_of(files)["containers"][0]["resources"]["limits"]["memory"] == "32Gi", output
    assert new(tmp_path / "over-memory", "p", "--memory", "29790Mi", "--dev-pod")[0] == 2  # limit 32769Mi


def test_default_overlay_files(tmp_path):
    code, output, files = new(tmp_path, "p")
    assert code == 0, output
    assert sorted(files) == ["p.results/kustomization.yaml", "p/kustomization.yaml", "p/resources.yaml",
                             "p/storage.yaml", "p/train.yaml"]
    k = files["p/kustomization.yaml"]
    assert (k["namespace"], k["namePrefix"]) == ("ns", "p-")
    assert k["labels"][0]["pairs"] == {"app.kubernetes.io/instance": "p"}
    assert k["resources"] == ["../../base/storage", "../../base/data", "../../base/train"]
    assert "components" not in k and "replacements" not in k
    assert k["images"] == [{"name": "trainer", "newName": "ghcr.io/lab/trainer", "newTag": "v1"}]
    assert [patch["path"] for patch in k["patches"]] == ["resources.yaml", "storage.yaml"]
    assert k["configMapGenerator"][0]["files"] == ["train.yaml", "kustomization.yaml"]  # the data run's name: config, image
    assert k["configMapGenerator"][1]["files"] == ["train.yaml", "kustomization.yaml", "resources.yaml"]  # and its Job patches
    spec = files["p/storage.yaml"]["spec"]
    assert (spec["storageClassName"], spec["accessModes"], spec["resources"]["requests"]["storage"]) == \
        ("rook-cephfs", ["ReadWriteMany"], "50Gi")
    assert (files["p/train.yaml"]["run"], files["p/train.yaml"]["dataset"]["name"]) == ("p", "horse2zebra")
    results = files["p.results/kustomization.yaml"]
    assert results["resources"] == ["../p"] and results["components"] == ["../../base/components/results-pod"]
    assert "patches" not in results


def test_resources_are_the_requests_with_limits_inside_nrps_ratio(tmp_path):
    code, output, files = new(tmp_path, "p", "--gpus", "2", "--cpu", "1500m", "--memory", "9Gi", "--shm", "2Gi",
                              "--scratch", "10Gi")
    assert code == 0, output
    pod = pod_of(files)
    want = {"requests": {"cpu": "1500m", "memory": "9Gi", "ephemeral-storage": "10Gi"},
            "limits": {"cpu": "1650m", "memory": "10137Mi", "ephemeral-storage": "11Gi"}}
    assert "initContainers" not in pod  # prepare only checks the dataset: base/train sizes it, small (schemas/sizing.yaml)
    gpus = {side: {**amounts, "nvidia.com/gpu": "2"} for side, amounts in want.items()}
    assert pod["containers"][0]["resources"] == gpus
    assert [v["emptyDir"]["sizeLimit"] for v in pod["volumes"]] == ["2Gi", "10Gi"]


@pytest.mark.parametrize("request_, kind, limit", [
    ("2", "cpu", "2200m"), ("10", "cpu", "11"), ("1m", "cpu", "1m"), ("7m", "cpu", "7m"), ("1500m", "cpu", "1650m"),
    ("7Gi", "bytes", "7884Mi"), ("1Gi", "bytes", "1126Mi"), ("20Gi", "bytes", "22Gi"), ("1000", "bytes", "1000"),
    ("10Mi", "bytes", "11Mi"), ("1G", "bytes", "1049Mi"),
])
def test_limits_round_down_to_millicores_or_mib_and_never_below_the_request(request_, kind, limit):
    assert scaffold.limits(request_, Fraction(11, 10), kind) == limit


def test_count_takes_whole_numbers_in_range():
    assert scaffold.count("--gpus", "0", 0, 8, "fix") == 0 and scaffold.count("--gpus", "8", 0, 8, "fix") == 8
    for text in ("9", "-1", "1.5", "", " 1", "1\n"):
        with pytest.raises(scaffold.UsageError):
            scaffold.count("--gpus", text, 0, 8, "fix")
    with pytest.raises(scaffold.UsageError):
        scaffold.count("--nodes", "0", 1, 8, "fix")


def test_cpu_only_project(tmp_path):
    code, output, files = new(tmp_path, "p", "--gpus", "0")
    assert code == 0, output
    assert files["p/kustomization.yaml"]["components"] == ["../../base/components/cpu-only"]
    assert "nvidia.com/gpu" not in pod_of(files)["containers"][0]["resources"]["limits"]


def test_special_gpu_resource_with_quota(tmp_path):
    code, output, files = new(tmp_path, "p", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "ticket 42")
    assert code == 0, output
    k = files["p/kustomization.yaml"]
    assert k["components"] == ["../../base/components/gpu-resource"]
    assert [patch["path"] for patch in k["patches"]] == ["resources.yaml", "storage.yaml", "gpu.yaml"]
    gpu = files["p/gpu.yaml"]
    assert gpu["metadata"]["annotations"] == {"nautilus.io/gpu-quota": "ticket 42"}
    assert "spec" not in gpu  # no product, no priority class: the patch only annotates
    assert pod_of(files)["containers"][0]["resources"]["limits"]["nvidia.com/a100"] == "1"
    assert new(tmp_path / "zero", "p", "--gpus", "0", "--gpu-resource", "nvidia.com/a100")[2]["p/kustomization.yaml"][
        "components"] == ["../../base/components/cpu-only"]  # no GPU: nothing to rename, no quota needed


def test_gpu_patch_with_product_and_priority_class(tmp_path):
    code, output, files = new(tmp_path, "p", "--gpu-product", "NVIDIA-A10", "--gpu-product", "NVIDIA-A40",
                              "--priority-class", "opportunistic")
    assert code == 0, output
    gpu = files["p/gpu.yaml"]
    assert "annotations" not in gpu["metadata"]
    pod = gpu["spec"]["template"]["spec"]
    assert list(pod)[0] == "priorityClassName" and pod["priorityClassName"] == "opportunistic"
    match = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert match[0]["matchExpressions"][0]["values"] == ["NVIDIA-A10", "NVIDIA-A40"]
    code, output, files = new(tmp_path / "prio", "p", "--priority-class", "opportunistic")
    assert "affinity" not in files["p/gpu.yaml"]["spec"]["template"]["spec"]
    code, output, files = new(tmp_path / "cpu", "p", "--gpus", "0", "--gpu-quota", "form")
    assert "p/gpu.yaml" not in files  # a quota without GPUs changes nothing


def test_multinode(tmp_path):
    code, output, files = new(tmp_path, "p", "--nodes", "3", "--gpus", "2")
    assert code == 0, output
    k = files["p/kustomization.yaml"]
    assert k["components"] == ["../../base/components/multinode"]
    assert [patch["path"] for patch in k["patches"]] == ["resources.yaml", "storage.yaml", "nodes.yaml"]
    assert k["replacements"][0]["source"] == {"kind": "Service", "name": "train"}
    assert files["p/nodes.yaml"]["spec"]["completions"] == 3


def test_image_with_digest_and_digest_only(tmp_path):
    k = new(tmp_path / "a", "p", "--image", f"ghcr.io/lab/trainer:v2@{DIGEST}")[2]["p/kustomization.yaml"]
    assert k["images"] == [{"name": "trainer", "newName": "ghcr.io/lab/trainer", "newTag": "v2", "digest": DIGEST}]
    k = new(tmp_path / "b", "p", "--image", f"ghcr.io/lab/trainer@{DIGEST}")[2]["p/kustomization.yaml"]
    assert k["images"] == [{"name": "trainer", "newName": "ghcr.io/lab/trainer", "digest": DIGEST}]


def test_read_write_once_storage_class(tmp_path):
    code, output, files = new(tmp_path, "p", "--storage-class", "rook-ceph-block", "--storage", "100Gi")
    assert code == 0 and "warning: rook-ceph-block is ReadWriteOnce" in output
    spec = files["p/storage.yaml"]["spec"]
    assert (spec["storageClassName"], spec["accessModes"], spec["resources"]["requests"]["storage"]) == \
        ("rook-ceph-block", ["ReadWriteOnce"], "100Gi")


def test_pull_secret_in_every_folder(tmp_path):
    code, output, files = new(tmp_path, "p", "--image-pull-secret", "ghcr-pull", "--dev-pod")
    assert code == 0, output
    assert files["p/pull-secret.yaml"]["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert [patch["path"] for patch in files["p/kustomization.yaml"]["patches"]][-1] == "pull-secret.yaml"
    assert files["p.results/pull-secret.yaml"]["spec"]["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert files["p.results/kustomization.yaml"]["patches"] == [
        {"path": "pull-secret.yaml", "target": {"kind": "Pod", "labelSelector": "nautilus.io/stage=results"}}]
    access = files["p.dev/access.yaml"]
    assert access["spec"] == {"imagePullSecrets": [{"name": "ghcr-pull"}]} and "annotations" not in access["metadata"]


def test_dev_pod_access_follows_the_train_job(tmp_path):
    code, output, files = new(tmp_path / "plain", "p", "--dev-pod")
    dev = files["p.dev/kustomization.yaml"]
    assert (dev["resources"], dev["components"]) == (["../p"], ["../../base/components/dev-pod"])
    assert "patches" not in dev and "p.dev/access.yaml" not in files
    code, output, files = new(tmp_path / "quota", "p", "--dev-pod", "--gpu-resource", "nvidia.com/a100",
                              "--gpu-quota", "form", "--priority-class", "opportunistic")
    assert code == 0, output
    access = files["p.dev/access.yaml"]
    assert access["metadata"]["annotations"] == {"nautilus.io/gpu-quota": "form"}
    assert access["spec"] == {"priorityClassName": "opportunistic"}
    assert files["p.dev/kustomization.yaml"]["patches"] == [
        {"path": "access.yaml", "target": {"kind": "Pod", "labelSelector": "nautilus.io/stage=dev"}}]
    access = new(tmp_path / "q", "p", "--dev-pod", "--gpu-resource", "nvidia.com/a100", "--gpu-quota", "f")[2][
        "p.dev/access.yaml"]
    assert "spec" not in access and access["metadata"]["annotations"] == {"nautilus.io/gpu-quota": "f"}


def test_sweep(tmp_path):
    code, output, files = new(tmp_path, "p", "--sweep", "train.lr=1e-4,2e-4", "--parallel", "2")
    assert code == 0, output
    k = files["p/kustomization.yaml"]
    assert k["components"] == ["../../base/components/sweep"]
    assert [patch["path"] for patch in k["patches"]] == ["resources.yaml", "storage.yaml", "sweep-job.yaml"]
    assert k["configMapGenerator"][1]["files"] == ["train.yaml", "kustomization.yaml", "sweep.yaml", "resources.yaml", "sweep-job.yaml"]
    assert files["p/sweep-job.yaml"]["spec"]["parallelism"] == 2
    assert "p/sweep.yaml" in files
    assert new(tmp_path / "one", "p", "--sweep", "train.lr=1e-4,2e-4")[2]["p/sweep-job.yaml"]["spec"]["parallelism"] == 1


def test_bases_beside_the_overlays_folder_or_the_repositorys_own(tmp_path):
    (tmp_path / "elsewhere").mkdir()  # no base/ beside it: the bases of the repository you are in
    result = nautilus("new", "p", "--namespace", "ns", "--image", IMAGE, "--output-dir", tmp_path / "elsewhere")
    assert result.exit_code == 0, result.output
    first = YAML(typ="safe").load((tmp_path / "elsewhere/p/kustomization.yaml").read_text())["resources"][0]
    assert (tmp_path / "elsewhere/p" / first).resolve() == (REPO / "base/storage").resolve()


def test_check_alone_refuses_what_no_writer_may_see(tmp_path):
    """scaffold.check is the whole gate: every option is refused there, before any writer runs."""
    fields = dict(scaffold.defaults(), name="p", namespace="ns", gpu_products=(), gpu_resource="nvidia.com/gpu",
                  gpu_quota=None, priority_class=None, cpu="8", memory="16Gi", shm="8Gi", dev_pod=False)
    fields = {key: value for key, value in fields.items() if key in scaffold.Project.__dataclass_fields__}
    policy = nrp_policy()
    scaffold.check(scaffold.Project(**fields), policy)
    with pytest.raises(UsageError, match="--image 'Not An Image'"):
        scaffold.check(scaffold.Project(**dict(fields, image="Not An Image")), policy)
