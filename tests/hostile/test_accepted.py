"""Class 4, accepted although wrong: names, quantities and image references are checked by one grammar each,
the same in `nautilus new` and in `nautilus validate`; an input without objects and an empty --base are errors."""
import pytest
from ruamel.yaml import YAML

from hostile_support import REPO, nautilus, pod, refused

NEW = ("new", "p", "--namespace", "ns")


@pytest.mark.parametrize("args, expect", [
    (("new", "p\n", "--namespace", "ns"), r"NAME 'p\n' is not a DNS-1123 label"),
    (("new", "p", "--namespace", "ns\n"), r"--namespace 'ns\n' is not a DNS-1123 label"),
    ((*NEW, "--image-pull-secret", "pull\n"), "--image-pull-secret"),
    ((*NEW, "--gpu-product", "NVIDIA-A10\n", "--allow-unknown-product"), "is not a label value"),
    ((*NEW, "--cpu", "0.0000001"), "--cpu '0.0000001' is outside 1m to 1024"),
    ((*NEW, "--cpu", "1.0005"), "--cpu '1.0005' is finer than a millicore"),
    ((*NEW, "--storage", "1e400"), "--storage '1e400' is beyond what Kubernetes can represent"),
    ((*NEW, "--shm", "1e-400"), "--shm '1e-400' is beyond what Kubernetes can represent"),
    ((*NEW, "--memory", "100Ti"), "--memory '100Ti' is outside 1Mi to 16Ti"),
    ((*NEW, "--scratch", "-1Gi"), "--scratch '-1Gi' is negative"),
    ((*NEW, "--image", "ghcr.io/Lab/trainer:v1"), "repository path has uppercase letters"),
    ((*NEW, "--image", "ghcr.io/lab/trainer :v1"), "is not a valid image reference"),
    ((*NEW, "--image", "ghcr.io/" + "a" * 250 + "/t:v1"), "characters, over 255"),
    ((*NEW, "--image", "ghcr.io/lab/trainer:latest"), "not pinned to a version: its tag is latest"),
    ((*NEW, "--image", "ghcr.io/lab/trainer@sha256:abc"), "is not a valid image reference"),
], ids=lambda v: None if isinstance(v, tuple) else v[:30])
def test_new_refuses_and_writes_nothing(tmp_path, args, expect):
    refused(nautilus(*args, "--output-dir", tmp_path), expect)
    assert list(tmp_path.iterdir()) == []


def test_image_with_tag_and_digest_keeps_its_tag(tmp_path):
    image = "ghcr.io/lab/trainer:v1.2@sha256:" + "ab" * 32
    assert nautilus(*NEW, "--image", image, "--output-dir", tmp_path).code == 0
    built = nautilus("build", tmp_path / "p")
    images = {c["image"] for d in YAML(typ="safe").load_all(built.out) if d["kind"] == "Job"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {image}


@pytest.mark.parametrize("change, rule, expect", [
    ({"image": "ghcr.io/Lab/trainer:v1"}, "image-pinned", "its repository path has uppercase letters"),
    ({"image": '"ghcr.io/lab/trainer:v 1"'}, "image-pinned", "is not a valid image reference"),
    ({"image": "ghcr.io/lab/trainer"}, "image-pinned", "it has no tag or digest"),
    ({"cpu": "0.0000001"}, "quantity", "resources.requests.cpu: '0.0000001' is outside 1m to 1024"),
    ({"cpu": "2500.5m"}, "quantity", "finer than a millicore"),
    ({"memory": "64Ti"}, "quantity", "resources.limits.memory: '64Ti' is outside 1Mi to 16Ti"),
])
def test_validate_finds_what_new_refuses(tmp_path, change, rule, expect):
    (tmp_path / "pod.yaml").write_text(pod(**change))
    run = nautilus("validate", tmp_path / "pod.yaml")
    assert (run.code, "Traceback" in run.err) == (1, False), run.err
    assert any(f": {rule}: " in line and expect in line for line in run.out.splitlines()), run.out


@pytest.mark.parametrize("content", [b"", b"# only a comment\n", b"---\n---\n", b"null\n"], ids=["empty", "comment", "separators", "null"])
def test_input_without_objects_is_an_error(tmp_path, content):
    (tmp_path / "x.yaml").write_bytes(content)
    refused(nautilus("validate", tmp_path / "x.yaml"), "holds no Kubernetes objects")
    refused(nautilus("validate", "-", stdin=content), "- holds no Kubernetes objects")


def test_dev_null_is_not_clean():
    refused(nautilus("validate", "/dev/null"), "/dev/null is not a regular file")


@pytest.mark.parametrize("base", ["", "  "])
def test_report_with_an_empty_base_is_a_usage_error(base):
    refused(nautilus("report", "--base", base, "overlays/horse2zebra", cwd=REPO), "--base is empty")
