"""Time `nautilus validate` on the worst inputs of the hostile corpus (tests/hostile), with peak memory.

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/hostile.py

Each case runs the installed `nautilus validate` once as a child process; prints its exit code, wall
seconds and peak resident memory. The largest inputs sit just inside the bounds of trainer/safe_yaml.py
(the node count), where the whole pipeline (kustomize, kubeconform, every rule) runs in full; the
hostile ones (alias bombs, 10,000-deep nesting, devices, remote resources) are refused at the bound.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests/hostile")]   # before bench/, whose trainer.py would shadow the package
from hostile_support import NAUTILUS, ENV, pod, project  # noqa: E402
from test_safe_yaml import bomb  # noqa: E402
from trainer.safe_yaml import MAX_NODES, load_all  # noqa: E402


def nodes(text: str) -> int:
    low, high = 1, MAX_NODES
    while low < high:
        middle = (low + high) // 2
        try:
            load_all(text, max_nodes=middle)
            high = middle
        except ValueError:
            low = middle + 1
    return low


def corpus(folder: Path) -> dict[str, tuple[list[str], bytes]]:
    one = pod()
    many = "---\n".join([one] * ((MAX_NODES - 10) // nodes(one)))
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndata:\n"
    files = {
        "pods-at-node-bound.yaml": many,
        "wide-configmap-at-node-bound.yaml": config + "".join(f"  k{i}: v\n" for i in range((MAX_NODES - 20) // 2)),
        "bomb-in-command.yaml": pod(command="[sh, -c, {" + bomb().replace("\n", ", ") + "}]"),
        "bomb-in-train-yaml.yaml": config + "  train.yaml: |\n" + "".join(f"    {line}\n" for line in bomb().splitlines()),
        "deep.yaml": "[" * 10_000 + "]" * 10_000,
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    root = project(folder / "remote")
    kustomization = root / "overlays/demo/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "components:\n  - github.com/org/repo//c?ref=v1\n")
    cases = {name: ([str(folder / name)], b"") for name in files}
    cases["stdin-9-MiB"] = (["-"], b"a" * (9 * 2**20))
    cases["dev-zero"] = (["/dev/zero"], b"")
    cases["remote-component"] = ([str(root / "overlays/demo")], b"")
    return cases


def measure(args: list[str], stdin: bytes) -> tuple[int, float, float]:
    start = time.perf_counter()
    with tempfile.TemporaryFile() as feed:
        feed.write(stdin)
        feed.seek(0)
        proc = subprocess.Popen([*NAUTILUS, "validate", *args], stdin=feed, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=ENV, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> int:
    print(f"cpus={os.cpu_count()}  python={sys.version.split()[0]}  load={os.getloadavg()[0]:.1f}")
    print(f"{'case':<36} {'exit':>4} {'seconds':>8} {'peak MB':>8}")
    folder = Path(tempfile.mkdtemp(prefix="nautilus-hostile-"))
    try:
        for name, (args, stdin) in corpus(folder).items():
            code, seconds, peak = measure(args, stdin)
            print(f"{name:<36} {code:>4} {seconds:>8.2f} {peak:>8.0f}")
    finally:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
