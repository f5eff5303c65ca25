"""A throw-away Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (the simulated kubelets), built by `make cluster-tools` into .tools/bin.

Everything listens on 127.0.0.1 with TLS from one generated CA; each component has its own client
identity (RBAC decides what it may do); kubectl runs as a cluster admin.
"""
import ctypes
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import pki

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
# The environment variable naming the folder of a control plane that another process started and keeps
# running (bench/mutation.py shares one with every mutant's tests): the tests attach to it.
SHARED = "NAUTILUS_TEST_CONTROLPLANE"
TEST_NAMESPACE_PREFIX = "test-"  # of every namespace a test makes (conftest.py)
# Client certificates: file name -> (user, group). kwok writes node and pod status for every node, which
# the Node authorizer would only allow per node, so it runs as an admin like a test harness would.
CLIENTS = {
    "admin": ("nautilus-test-admin", "system:masters"),
    "kwok": ("kwok", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
}


def _die_with_parent() -> None:
    """Linux: a component gets SIGTERM when the test process dies, so an interrupted run leaves nothing."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def missing_binaries(bin_dir: Path = TOOLS_BIN) -> list[str]:
    return [name for name in BINARIES if not (bin_dir / name).is_file()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.5):
    """Poll check() until it returns something truthy; TimeoutError naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ControlPlane:
    def __init__(self, workdir: Path, bin_dir: Path = TOOLS_BIN):
        self.dir, self.bin = Path(workdir), Path(bin_dir)
        self.pki = self.dir / "pki"
        self.ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")}
        self.server = f"https://127.0.0.1:{self.ports['apiserver']}"
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.processes: dict[str, subprocess.Popen] = {}

    @classmethod
    def attached(cls, workdir: Path, bin_dir: Path = TOOLS_BIN) -> "ControlPlane":
        """The control plane another process started in workdir and keeps running (see SHARED): its address and
        credentials, and no processes of ours to stop."""
        plane = cls(workdir, bin_dir)
        plane.server = json.loads(plane.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        plane.ports = {"apiserver": int(plane.server.rsplit(":", 1)[1])}
        return plane

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "ControlPlane":
        pki.create(self.pki, CLIENTS)
        for client in CLIENTS:
            self._write_kubeconfig(client)
        try:
            self._launch("etcd", self._etcd_args())
            self._launch("kube-apiserver", self._apiserver_args())
            self._wait_healthy("kube-apiserver", self.ports["apiserver"], "/readyz", client_cert=True)
            self._launch("kube-controller-manager", self._controller_manager_args())
            self._launch("kube-scheduler", self._scheduler_args())
            self._launch("kwok", [f"--kubeconfig={self.dir / 'kwok.kubeconfig'}", f"--config={FIXTURES / 'kwok.yaml'}"])
            self._wait_healthy("kube-controller-manager", self.ports["controller-manager"], "/healthz")
            self._wait_healthy("kube-scheduler", self.ports["scheduler"], "/healthz")
            self._populate()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop in reverse start order: SIGTERM, then SIGKILL whatever ignores it for 10 s."""
        for name, proc in reversed(list(self.processes.items())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()

    def _populate(self) -> None:
        """What an NRP namespace user finds in place: priority classes, storage classes, Ready nodes."""
        for fixture in ("priorityclasses.yaml", "storageclasses.yaml", "nodes.yaml"):
            self.kubectl("create", "-f", str(FIXTURES / fixture))
        names = self.kubectl("get", "nodes", "-o", "name").stdout.split()
        wait_until(lambda: self.ready_nodes() == len(names), 60, "kwok to report every node Ready")
        # The service-account controller gives each namespace its `default` account; pods need it.
        wait_until(lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
                   60, "the controller manager to create service accounts")

    def delete_test_namespaces(self) -> None:
        """Delete the namespaces tests made, without waiting. On a shared control plane, an earlier run killed
        before its teardown (a test past its time limit) leaves them, and their pods hold simulated GPUs."""
        names = self.kubectl("get", "namespaces", "-o", "name").stdout.split()
        left = [n for n in names if n.startswith(f"namespace/{TEST_NAMESPACE_PREFIX}")]
        if left:
            self.kubectl("delete", *left, "--wait=false")

    def ready_nodes(self) -> int:
        nodes = self.get("nodes")["items"]
        return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])) for n in nodes)

    # --- processes -------------------------------------------------------------------------------
    def _launch(self, name: str, args: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen([str(self.bin / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=self.dir,
                                                preexec_fn=_die_with_parent)
        log.close()

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _wait_healthy(self, name: str, port: int, path: str, client_cert: bool = False) -> None:
        context = ssl.create_default_context(cafile=self.pki / "ca.crt")
        if client_cert:
            context.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")

        def healthy() -> bool:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.processes[name].returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=5) as reply:
                    return reply.status == 200
            except OSError:
                return False

        try:
            wait_until(healthy, 120, f"{name} {path}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail(name)}") from None

    def _write_kubeconfig(self, client: str) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.server, "certificate-authority": str(self.pki / "ca.crt")}}],
            "users": [{"name": client, "user": {"client-certificate": str(self.pki / f"{client}.crt"),
                                                "client-key": str(self.pki / f"{client}.key")}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": client}}],
        }
        (self.dir / f"{client}.kubeconfig").write_text(json.dumps(config))  # JSON is YAML

    def _etcd_args(self) -> list[str]:
        client, peer, tls = f"https://127.0.0.1:{self.ports['etcd']}", f"http://127.0.0.1:{self.ports['etcd-peer']}", self.pki
        return [
            "--name=test", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=test={peer}",
            f"--cert-file={tls / 'etcd.crt'}", f"--key-file={tls / 'etcd.key'}",
            f"--trusted-ca-file={tls / 'ca.crt'}", "--client-cert-auth",
            "--unsafe-no-fsync",  # throw-away data: durability only costs time here
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        tls = self.pki
        return [
            f"--etcd-servers=https://127.0.0.1:{self.ports['etcd']}", f"--etcd-cafile={tls / 'ca.crt'}",
            f"--etcd-certfile={tls / 'etcd.crt'}", f"--etcd-keyfile={tls / 'etcd.key'}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.ports['apiserver']}",
            f"--cert-dir={self.dir / 'apiserver-certs'}",
            f"--tls-cert-file={tls / 'apiserver.crt'}", f"--tls-private-key-file={tls / 'apiserver.key'}",
            f"--client-ca-file={tls / 'ca.crt'}", "--authorization-mode=Node,RBAC",
            f"--service-account-key-file={tls / 'sa.pub'}", f"--service-account-signing-key-file={tls / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/16",
            # The `kubernetes` Service cannot point at a loopback address; nothing here needs it to.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ]

    def _component_serving(self, name: str) -> list[str]:
        return [
            f"--kubeconfig={self.dir / f'{name}.kubeconfig'}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={self.ports[name]}",
            f"--tls-cert-file={self.pki / 'apiserver.crt'}", f"--tls-private-key-file={self.pki / 'apiserver.key'}",
            f"--authentication-kubeconfig={self.dir / f'{name}.kubeconfig'}",
            f"--authorization-kubeconfig={self.dir / f'{name}.kubeconfig'}",
            # Clients are known by our CA; no front proxy here, so don't look its CA up in the cluster.
            f"--client-ca-file={self.pki / 'ca.crt'}", "--authentication-skip-lookup",
        ]

    def _controller_manager_args(self) -> list[str]:
        return [
            *self._component_serving("controller-manager"),
            f"--service-account-private-key-file={self.pki / 'sa.key'}", f"--root-ca-file={self.pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--controllers=*",
        ]

    def _scheduler_args(self) -> list[str]:
        return self._component_serving("scheduler")

    # --- client ----------------------------------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)
