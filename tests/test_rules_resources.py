"""The coded rules over resource quantities (generator/policy/rules_resources.py) say what `nautilus validate`
shows before the `;` of each finding, with the numbers, and stay quiet exactly at NRP's limits. Each case is a
corpus baseline (tests/validate/baselines) changed at JSON Pointers, as in tests/validate/cases.yaml; this
checks the rules in process, without kubeconform, so it is fast enough to pin every branch."""
import pytest

from generator.policy import engine, rules_resources
from generator.policy.registry import CODED
from validate.support import build_case

RULES = {rule for rule, check in CODED.items() if check.__module__ == rules_resources.__name__}
POD = "/spec"                   # base: pod (a bare GPU Pod: 4 CPU, 16Gi, 1 GPU)
JOB = "/spec/template/spec"     # base: job (8/9 CPU, 32/36Gi, 20/22Gi scratch, 2 GPUs, 8Gi shm, 20Gi scratch emptyDir)
TRAINER = f"{JOB}/containers/0"
HELPER = {"name": "helper", "image": "ghcr.io/nautilus-ml/nautilus-ml-template/trainer:v0.1.0",
          "command": ["python", "-m", "trainer.prepare"],
          "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}


def found(base: str, changes: dict | None = None, delete: tuple = ()) -> list[tuple[str, str]]:
    """(rule, detail) of this module's rules for a baseline changed at JSON Pointers, sorted."""
    obj = build_case({"base": base, "set": changes or {}, "delete": list(delete)})
    return sorted((rule.id, detail) for rule, detail in engine.object_details(obj) if rule.id in RULES)


def both(where: str, resource: str, request, limit=None) -> dict:
    """Changes setting a container's request and limit (the same when limit is None) of one resource."""
    return {f"{where}/resources/requests/{resource}": request,
            f"{where}/resources/limits/{resource}": request if limit is None else limit}


def gpus(where: str, request, limit=None, resource: str = "nvidia.com~1gpu") -> dict:
    return both(where, resource, request, limit)


@pytest.mark.parametrize("base", ["pod", "job", "deployment"])
def test_clean_baselines_break_no_rule(base):
    assert found(base) == []


# GPUs per workload kind
def test_bare_pod_has_at_most_2_gpus():
    assert found("pod", gpus(f"{POD}/containers/0", "3")) == [
        ("pod-gpu-max", "asks for 3 GPUs, a bare Pod may have at most 2")]
    assert found("pod", gpus(f"{POD}/containers/0", "2")) == []


def test_job_pod_has_at_most_a_node_of_gpus():
    assert found("job", gpus(TRAINER, "9")) == [("job-gpu-max", "asks for 9 GPUs per pod, a node has at most 8")]
    assert found("job", gpus(TRAINER, "8")) == []


def test_gpu_pods_at_once():
    assert found("job", {"/spec/parallelism": 5}) == [
        ("job-gpus-at-once", "runs 5 pods x 2 GPUs = 10 GPUs at once, more than 4 GPU pods")]
    assert found("job", {"/spec/parallelism": 3, **gpus(TRAINER, "8")}) == []  # 24 GPUs, but only 3 GPU pods
    assert found("job", {"/spec/parallelism": 4}) == []
    cpu_only = [f"{TRAINER}/resources/requests/nvidia.com~1gpu", f"{TRAINER}/resources/limits/nvidia.com~1gpu"]
    assert found("job", {"/spec/parallelism": 5}, delete=cpu_only) == []


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_controllers_hold_no_gpu(kind):
    changes = {"/kind": kind, **gpus("/spec/template/spec/containers/0", "1")}
    assert found("deployment", changes) == [("deployment-gpu", f"asks for 1 GPUs, a {kind} may have at most 0")]


# What a bare Pod may hold: the larger of requests and limits, summed over containers
def test_bare_pod_memory_cap():
    container = f"{POD}/containers/0"
    assert found("pod", both(container, "memory", "40Gi")) == [
        ("pod-memory-max", "holds 40Gi of memory, a bare Pod may have at most 32Gi")]
    assert found("pod", both(container, "memory", "32Gi")) == []
    two = {f"{POD}/containers/-": {**HELPER, "resources": {"requests": {"cpu": "1", "memory": "16.5Gi"},
                                                           "limits": {"cpu": "1", "memory": "16.5Gi"}}}}
    assert found("pod", two) == [("pod-memory-max", "holds 33280Mi of memory, a bare Pod may have at most 32Gi")]


def test_bare_pod_memory_cap_reads_the_limit_when_it_is_larger():
    changes = both(f"{POD}/containers/0", "memory", "30Gi", "33Gi")
    assert found("pod", changes) == [("pod-memory-max", "holds 33Gi of memory, a bare Pod may have at most 32Gi")]


def test_bare_pod_cpu_cap():
    container = f"{POD}/containers/0"
    assert found("pod", both(container, "cpu", "20")) == [
        ("pod-cpu-max", "holds 20 CPU, a bare Pod may have at most 16")]
    assert found("pod", both(container, "cpu", "16500m")) == [
        ("pod-cpu-max", "holds 16500m CPU, a bare Pod may have at most 16")]
    assert found("pod", both(container, "cpu", "16")) == []


# limit <= 1.2 x request for cpu, memory and ephemeral-storage
def test_limit_over_1_2_times_the_request():
    assert found("job", {f"{TRAINER}/resources/limits/memory": "64Gi"}) == [
        ("limit-ratio", "container trainer: memory limit 64Gi is 2.00 x its request 32Gi, more than 1.2 x")]
    assert found("job", {f"{TRAINER}/resources/limits/ephemeral-storage": "25Gi"}) == [
        ("limit-ratio", "container trainer: ephemeral-storage limit 25Gi is 1.25 x its request 20Gi, more than 1.2 x")]
    assert found("job", both(TRAINER, "cpu", "0", "1")) == [
        ("limit-ratio", "container trainer: cpu limit 1 is inf x its request 0, more than 1.2 x")]


def test_limit_exactly_1_2_times_the_request_passes():
    changes = {**both(TRAINER, "cpu", "10", "12"), **both(TRAINER, "memory", "32Gi", "38.4Gi"),
               **both(TRAINER, "ephemeral-storage", "20Gi", "24Gi")}
    assert found("job", changes) == []


def test_missing_requests_and_limits():
    resources = f"{TRAINER}/resources"
    assert found("job", delete=[f"{resources}/limits/cpu"]) == [("limit-ratio", "container trainer: cpu has no limit")]
    assert found("job", delete=[f"{resources}/requests/memory"]) == [
        ("limit-ratio", "container trainer: memory has no request")]
    assert found("job", delete=[f"{resources}/requests/cpu", f"{resources}/limits/cpu"]) == [
        ("limit-ratio", "container trainer: cpu has no request")]
    assert found("job", delete=[f"{resources}/limits/ephemeral-storage"]) == [
        ("limit-ratio", "container trainer: ephemeral-storage has no limit")]


def test_ephemeral_storage_may_be_left_out_altogether():
    assert found("pod") == []  # the Pod baseline sets neither request nor limit for ephemeral-storage
    assert found("pod", {f"{POD}/containers/0/resources/limits/ephemeral-storage": "1Gi"}) == [
        ("limit-ratio", "container dev: ephemeral-storage has no request")]


def test_init_containers_are_checked_too():
    changes = {f"{JOB}/initContainers": [{**HELPER, "resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                                                                   "limits": {"cpu": "4", "memory": "4Gi"}}}]}
    assert found("job", changes) == [
        ("limit-ratio", "container helper: cpu limit 4 is 2.00 x its request 2, more than 1.2 x")]


# GPUs: request == limit, whole devices
def test_gpu_request_differs_from_limit():
    assert found("job", gpus(TRAINER, "1", "2")) == [
        ("gpu-request-limit", "container trainer: nvidia.com/gpu request 1 differs from its limit 2")]
    assert found("job", gpus(TRAINER, "2", "2.0")) == []  # the same number written two ways


def test_gpu_fractions():
    assert found("job", gpus(TRAINER, "0.5")) == [
        ("gpu-request-limit", "container trainer: nvidia.com/gpu 0.5 is not a whole number of GPUs"),
        ("gpu-request-limit", "container trainer: nvidia.com/gpu 0.5 is not a whole number of GPUs")]
    only_limit = {f"{TRAINER}/resources/limits/nvidia.com~1gpu": "1500m"}
    assert found("job", only_limit, delete=[f"{TRAINER}/resources/requests/nvidia.com~1gpu"]) == [
        ("gpu-request-limit", "container trainer: nvidia.com/gpu 1500m is not a whole number of GPUs")]


def test_special_gpu_resources_are_checked_by_name():
    changes = gpus(TRAINER, "1", "2", resource="nvidia.com~1a100")
    assert found("job", changes) == [
        ("gpu-request-limit", "container trainer: nvidia.com/a100 request 1 differs from its limit 2")]


def test_gpu_request_without_limit_is_a_whole_number_that_the_api_server_refuses():
    assert found("job", delete=[f"{TRAINER}/resources/limits/nvidia.com~1gpu"]) == [
        ("request-equals-limit", "container trainer: nvidia.com/gpu has a request (2) but no limit")]


# /dev/shm: a memory emptyDir inside the memory limit of each container mounting it
def test_shm_without_size_limit():
    assert found("job", delete=[f"{JOB}/volumes/0/emptyDir/sizeLimit"]) == [
        ("shm-size-limit", "memory emptyDir shm has no sizeLimit")]


def test_shm_as_big_as_the_memory_limit():
    assert found("job", {f"{JOB}/volumes/0/emptyDir/sizeLimit": "36Gi"}) == [
        ("shm-size-limit", "memory emptyDir shm (36Gi) is not inside the memory limit (36Gi) of container trainer")]
    assert found("job", {f"{JOB}/volumes/0/emptyDir/sizeLimit": "35Gi"}) == []


def test_shm_of_a_container_without_memory_limit():
    assert found("job", delete=[f"{TRAINER}/resources/limits/memory"]) == [
        ("limit-ratio", "container trainer: memory has no limit"),
        ("shm-size-limit", "memory emptyDir shm (8Gi) is not inside the memory limit (none) of container trainer")]


def test_disk_and_other_volumes_are_not_shm():
    """A disk emptyDir without sizeLimit, a memory emptyDir nobody mounts, a ConfigMap volume: nothing to report."""
    changes = {f"{JOB}/volumes/1/emptyDir": {}, f"{JOB}/volumes/-": {"name": "config", "configMap": {"name": "train"}},
               f"{TRAINER}/volumeMounts/-": {"name": "config", "mountPath": "/config"}}
    assert found("job", changes) == []
    unmounted = {f"{JOB}/volumes/-": {"name": "spare", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}}
    assert found("job", unmounted) == []


# Scratch: a disk emptyDir needs an ephemeral-storage request; far above it and over 50Gi is flagged
def test_scratch_without_ephemeral_request():
    no_ephemeral = [f"{TRAINER}/resources/requests/ephemeral-storage", f"{TRAINER}/resources/limits/ephemeral-storage"]
    assert found("job", delete=no_ephemeral) == [
        ("scratch-request", "container trainer mounts emptyDir scratch without an ephemeral-storage request")]


def test_shm_alone_needs_no_ephemeral_request():
    no_ephemeral = [f"{TRAINER}/resources/requests/ephemeral-storage", f"{TRAINER}/resources/limits/ephemeral-storage",
                    f"{TRAINER}/volumeMounts/1", f"{JOB}/volumes/1"]
    assert found("job", delete=no_ephemeral) == []


def test_scratch_far_above_its_request():
    assert found("job", {f"{JOB}/volumes/1/emptyDir/sizeLimit": "100Gi"}) == [
        ("scratch-max", "emptyDir scratch sizeLimit 100Gi is over 50Gi and more than 1.2 x the 20Gi of "
                        "ephemeral storage requested for it")]


def test_scratch_over_the_cap_with_a_matching_request_passes():
    requested = both(TRAINER, "ephemeral-storage", "50Gi", "60Gi")
    assert found("job", {**requested, f"{JOB}/volumes/1/emptyDir/sizeLimit": "60Gi"}) == []
    assert found("job", {f"{JOB}/volumes/1/emptyDir/sizeLimit": "50Gi"}) == []  # at the cap: no request needed near it


def test_scratch_requests_of_all_writers_add_up():
    helper = {**HELPER, "resources": {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "30Gi"},
                                      "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "30Gi"}},
              "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}
    writers = {f"{JOB}/containers/-": helper}
    assert found("job", {**writers, f"{JOB}/volumes/1/emptyDir/sizeLimit": "60Gi"}) == []  # 60Gi <= 1.2 x 50Gi
    assert found("job", {**writers, f"{JOB}/volumes/1/emptyDir/sizeLimit": "61Gi"}) == [
        ("scratch-max", "emptyDir scratch sizeLimit 61Gi is over 50Gi and more than 1.2 x the 50Gi of "
                        "ephemeral storage requested for it")]


def test_scratch_over_the_cap_without_any_request_is_only_scratch_request():
    no_ephemeral = [f"{TRAINER}/resources/requests/ephemeral-storage", f"{TRAINER}/resources/limits/ephemeral-storage"]
    assert found("job", {f"{JOB}/volumes/1/emptyDir/sizeLimit": "100Gi"}, delete=no_ephemeral) == [
        ("scratch-request", "container trainer mounts emptyDir scratch without an ephemeral-storage request")]


# More than 100 pods at once: limit == request
def test_many_pods_need_limits_equal_to_requests():
    cpu_only = [f"{TRAINER}/resources/requests/nvidia.com~1gpu", f"{TRAINER}/resources/limits/nvidia.com~1gpu"]
    assert found("job", {"/spec/parallelism": 101, "/spec/completions": 500}, delete=cpu_only) == [
        ("limit-equals-request", "101 pods at once: container trainer cpu limit 9 differs from its request 8"),
        ("limit-equals-request",
         "101 pods at once: container trainer ephemeral-storage limit 22Gi differs from its request 20Gi"),
        ("limit-equals-request", "101 pods at once: container trainer memory limit 36Gi differs from its request 32Gi")]
    assert found("job", {"/spec/parallelism": 100}, delete=cpu_only) == []
    equal = {"/spec/parallelism": 101,
             f"{TRAINER}/resources/limits": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "20Gi"}}
    assert found("job", equal, delete=cpu_only) == []


def test_many_replicas_without_a_limit_are_limit_ratio_only():
    changes = {"/spec/replicas": 150}
    assert found("deployment", changes, delete=["/spec/template/spec/containers/0/resources/limits/memory"]) == [
        ("limit-ratio", "container board: memory has no limit")]
    assert found("deployment", {**changes, "/spec/template/spec/containers/0/resources/limits/memory": "1.1Gi"}) == [
        ("limit-equals-request", "150 pods at once: container board memory limit 1.1Gi differs from its request 1Gi")]


# What the API server refuses: a request above its limit (any resource), extended resources and hugepages
# not exactly at their limit, hugepages without cpu or memory
def test_request_above_its_limit_for_any_resource_of_any_container():
    assert found("job", {f"{TRAINER}/resources/requests/memory": "64Gi"}) == [
        ("request-above-limit", "container trainer: memory request 64Gi is above its limit 36Gi")]
    init = {f"{JOB}/initContainers": [{**HELPER, "resources": {"requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
                                                                "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "1Gi"}}}]}
    assert found("job", init) == [("request-above-limit", "container helper: ephemeral-storage request 2Gi is above its limit 1Gi")]
    assert found("job", both(TRAINER, "memory", "36Gi")) == []  # equal is fine
    assert found("job", both(TRAINER, "memory", "36864Mi", "36Gi")) == []  # the same amount written two ways


def test_extended_resources_and_hugepages_need_request_equal_to_limit():
    no_limit = found("job", delete=[f"{TRAINER}/resources/limits/nvidia.com~1gpu"])
    assert no_limit == [("request-equals-limit", "container trainer: nvidia.com/gpu has a request (2) but no limit")]
    assert found("job", delete=[f"{TRAINER}/resources/requests/nvidia.com~1gpu"]) == []  # the request defaults to the limit
    assert found("job", both(TRAINER, "example.com~1fpga", "1", "2")) == [
        ("request-equals-limit", "container trainer: example.com/fpga request 1 is below its limit 2")]
    assert found("job", both(TRAINER, "example.com~1fpga", "3", "2")) == [
        ("request-above-limit", "container trainer: example.com/fpga request 3 is above its limit 2")]
    assert found("job", both(TRAINER, "hugepages-2Mi", "64Mi", "128Mi")) == [
        ("request-equals-limit", "container trainer: hugepages-2Mi request 64Mi is below its limit 128Mi")]
    assert found("job", both(TRAINER, "hugepages-2Mi", "128Mi")) == []


def test_hugepages_need_cpu_or_memory():
    changes = {f"{TRAINER}/resources": {"requests": {"hugepages-2Mi": "64Mi"}, "limits": {"hugepages-2Mi": "64Mi"}}}
    assert ("hugepages-cpu-memory", "container trainer: asks for hugepages-2Mi without a cpu or memory request or limit") \
        in found("job", changes)
