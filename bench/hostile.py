"""Time the command lines on the worst inputs of the hostile corpus (tests/hostile), with peak memory.

    PATH=$PWD/.tools/bin:$PATH .venv/bin/python bench/hostile.py

Each case runs the installed `nautilus` (validate, build, report, new) or `python -m trainer.*` once as a
child process; prints its exit code, wall seconds and peak resident memory. The largest inputs sit just
inside the bounds of trainer/safe_yaml.py (the node count per document, many small documents) and of
trainer/inputs.py (JSON size and depth, PNG headers), where the whole pipeline runs in full; the hostile ones
(alias bombs, 10,000-deep nesting, devices, FIFOs, remote resources) are refused at the bound.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests/hostile")]   # before bench/, whose trainer.py would shadow the package
from hostile_support import NAUTILUS, ENV, pod, project  # noqa: E402
from test_safe_yaml import bomb  # noqa: E402
from trainer.safe_yaml import MAX_NODES, MAX_STREAM_NODES, load_all  # noqa: E402
from trainer import inputs  # noqa: E402

from generator.review.measured import MAX_BYTES as MEASURED_BYTES  # noqa: E402

PYTHON = [sys.executable, "-m"]


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
    cases = {name: ([*NAUTILUS, "validate", str(folder / name)], b"") for name in files}
    cases["stdin-9-MiB"] = ([*NAUTILUS, "validate", "-"], b"a" * (9 * 2**20))
    cases["dev-zero"] = ([*NAUTILUS, "validate", "/dev/zero"], b"")
    cases["remote-component"] = ([*NAUTILUS, "validate", str(root / "overlays/demo")], b"")
    cases.update(streams(folder))
    cases.update(readers(folder))
    return cases


def streams(folder: Path) -> dict[str, tuple[list[str], bytes]]:
    """Many small documents: accepted up to the stream bound (no alias in them), refused past it."""
    small = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: ns}\ndata: {a: b}\n"
    (folder / "stream-10000-configmaps.yaml").write_text("---\n".join(small % i for i in range(10_000)))
    row = "[" + "a, " * 999 + "a]\n"
    (folder / "stream-past-bound.yaml").write_text("---\n".join([row] * (MAX_STREAM_NODES // 1000 + 10)))
    return {name: ([*NAUTILUS, "validate", str(folder / f"{name}.yaml")], b"")
            for name in ("stream-10000-configmaps", "stream-past-bound")}


def png_header(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))


def readers(folder: Path) -> dict[str, tuple[list[str], bytes]]:
    """The readers of trainer/inputs.py at their bounds: FIFOs, the largest and deepest JSON, PNG headers."""
    root = project(folder / "fifo-sweep")
    kustomization = root / "overlays/demo/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("      - train.yaml\n", "      - train.yaml\n      - sweep.yaml\n"))
    os.mkfifo(root / "overlays/demo/sweep.yaml")
    os.mkfifo(folder / "usage-fifo.json")
    (folder / "usage-deep.json").write_text("[" * (inputs.MAX_JSON_DEPTH * 1000) + "]" * (inputs.MAX_JSON_DEPTH * 1000))
    (folder / "usage-at-byte-bound.json").write_text('{"requests": {}, "cpu": {}, "memory": {}, "pad": "' +
                                                     "x" * (MEASURED_BYTES - 60) + '"}')
    run = folder / "run"
    for index, size in enumerate(((1, 60_000), (16_384, 4_096))):
        (run / f"v{index}/samples").mkdir(parents=True)
        (run / f"v{index}/variant.json").write_text(json.dumps({"index": index, "name": f"v{index}", "set": {"x": index}}))
        (run / f"v{index}/samples/step_1.png").write_bytes(png_header(*size))
    os.mkfifo(folder / "sweep.yaml")
    overlay, clean = str(root / "overlays/demo"), str(project(folder / "clean") / "overlays/demo")
    return {
        "validate-overlay-with-fifo-sweep": ([*NAUTILUS, "validate", overlay], b""),
        "report-usage-fifo": ([*NAUTILUS, "report", clean, "--usage", str(folder / "usage-fifo.json")], b""),
        "report-usage-16000-deep": ([*NAUTILUS, "report", clean, "--usage", str(folder / "usage-deep.json")], b""),
        "report-usage-at-1-MB": ([*NAUTILUS, "report", clean, "--usage", str(folder / "usage-at-byte-bound.json")], b""),
        "compare-1x60000-png-header": ([*PYTHON, "trainer.compare", str(run), "--no-metrics"], b""),
        "sweep-fifo-sweep-yaml": ([*PYTHON, "trainer.sweep", "trainer.train", "--config", str(folder / "train.yaml"),
                                   "--index", "0"], b""),
        "new-parallel-5000-digits": ([*NAUTILUS, "new", "p", "--namespace", "ns", "--sweep", "train.lr=1e-4,2e-4",
                                      "--parallel", "9" * 5000, "--output-dir", str(folder / "new")], b""),
    }


def measure(args: list[str], stdin: bytes) -> tuple[int, float, float]:
    start = time.perf_counter()
    with tempfile.TemporaryFile() as feed:
        feed.write(stdin)
        feed.seek(0)
        proc = subprocess.Popen(args, stdin=feed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**ENV, "PYTHONPATH": str(REPO)}, cwd=REPO)
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
