"""Small mutations of rendered objects (Job, Pod, PersistentVolumeClaim, ConfigMap) for the differential test.

Each mutation takes a deep copy of one object and a random.Random, changes one thing in place and returns a
short label of what it did ("category: detail"), or None when it does not apply to that object. The catalogue
covers what users edit by hand (amounts, GPUs, names, labels, volumes, probes, env, ports, Job fields) with
values both the API server accepts and refuses; the server decides which is which.
"""
import random

GPU = "nvidia.com/gpu"
AMOUNTS = {"cpu": ["0", "100m", "1", "2", "3500m", "16", "-1", "0.5", "1e3"],
           "memory": ["0", "256Mi", "2Gi", "7Gi", "64Gi", "-1Gi", "1.5Gi", "100M"],
           "ephemeral-storage": ["0", "1Gi", "40Gi", "200Gi", "-5Gi"]}
BAD_NAMES = ["Train", "train_1", "-train", "train-", "a" * 64, "train.one", "t", "x" * 253, "trå"]
BAD_LABEL_KEYS = ["bad key", "-x", "example.com/", "/x", "a" * 64, "Example.com/x", "x" * 254 + "/y", "ok.io/a_b"]
BAD_LABEL_VALUES = ["", "a" * 63, "a" * 64, "-x", "x-", "a b", "a/b", "A.b_c-D", "é"]


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "Job":
        return obj["spec"]["template"]["spec"]
    return None


def _container(obj: dict, rng: random.Random, init: bool = False) -> dict | None:
    spec = pod_spec(obj)
    pool = (spec or {}).get("initContainers" if init else "containers") or []
    return rng.choice(pool) if pool else None


def _resources(c: dict, part: str) -> dict:
    return c.setdefault("resources", {}).setdefault(part, {})


# amounts ------------------------------------------------------------------------------------------------

def _amount(c, side: str, rng):
    """One resource amount of container c on side (requests or limits), drawn from AMOUNTS."""
    if c is None:
        return None
    resource = rng.choice(sorted(AMOUNTS))
    value = rng.choice(AMOUNTS[resource])
    _resources(c, side)[resource] = value
    return f"amounts: {c['name']} {side}.{resource}={value}"


def amount_request(obj, rng):
    return _amount(_container(obj, rng, init=rng.random() < 0.3) or _container(obj, rng), "requests", rng)


def amount_limit(obj, rng):
    return _amount(_container(obj, rng), "limits", rng)


def amount_scaled(obj, rng):
    """Request and limit together, the limit 1.0-1.5 x the request (the API accepts; NRP's band is 1.2)."""
    c = _container(obj, rng)
    if c is None:
        return None
    resource = rng.choice(["cpu", "memory"])
    request = rng.choice([1, 2, 4, 8])
    factor = rng.choice([1, 1.1, 1.2, 1.5])
    unit = "" if resource == "cpu" else "Gi"
    _resources(c, "requests")[resource] = f"{request}{unit}"
    _resources(c, "limits")[resource] = f"{int(request * factor * 1000)}{'m' if unit == '' else 'Mi'}"
    return f"amounts: {c['name']} {resource} {request}{unit} x{factor}"


def amount_drop(obj, rng):
    c = _container(obj, rng)
    if c is None or not c.get("resources"):
        return None
    part = rng.choice(["requests", "limits"])
    resource = rng.choice(["cpu", "memory", "ephemeral-storage"])
    _resources(c, part).pop(resource, None)
    return f"amounts: {c['name']} without {part}.{resource}"


def hugepages(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    value = rng.choice(["64Mi", "2Mi", "3Mi"])
    _resources(c, "requests")["hugepages-2Mi"] = value
    _resources(c, "limits")["hugepages-2Mi"] = value
    if rng.random() < 0.5:
        for part in ("requests", "limits"):
            _resources(c, part).pop("cpu", None)
            _resources(c, part).pop("memory", None)
        return f"amounts: {c['name']} hugepages-2Mi={value} without cpu/memory"
    return f"amounts: {c['name']} hugepages-2Mi={value}"


# GPUs ---------------------------------------------------------------------------------------------------

def gpu_count(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    request, limit = rng.choice([("1", "1"), ("0", "0"), ("9", "9"), ("2", "1"), ("1", "2"), ("0.5", "0.5"),
                                 ("1", None), (None, "2"), ("-1", "-1"), ("500m", "500m")])
    for part, value in (("requests", request), ("limits", limit)):
        if value is None:
            _resources(c, part).pop(GPU, None)
        else:
            _resources(c, part)[GPU] = value
    return f"GPUs: {c['name']} request {request} limit {limit}"


def gpu_resource_name(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    name = rng.choice(["nvidia.com/a100", "nvidia.com/GPU", "gpu", "example.com/fpga", "nvidia.com/mig-small"])
    _resources(c, "requests")[name] = "1"
    _resources(c, "limits")[name] = rng.choice(["1", "1", "2"])
    return f"GPUs: {c['name']} {name} {_resources(c, 'limits')[name]}"


def gpu_affinity(obj, rng):
    spec = pod_spec(obj)
    if spec is None:
        return None
    operator, values = rng.choice([("In", ["NVIDIA-A10"]), ("In", []), ("Exists", ["NVIDIA-A10"]),
                                   ("Gt", ["535"]), ("Gt", ["535", "540"]), ("Gt", ["x"]), ("Foo", ["a"]),
                                   ("NotIn", ["NVIDIA-A1O"])])
    key = rng.choice(["nvidia.com/gpu.product", "nvidia.com/cuda.driver.major", "bad key"])
    term = {"matchExpressions": [{"key": key, "operator": operator, "values": values}]}
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    return f"GPUs: affinity {key} {operator} {values}"


# names and labels ---------------------------------------------------------------------------------------

def object_name(obj, rng):
    obj["metadata"]["name"] = name = rng.choice(BAD_NAMES + ["train-2", "a" * 63])
    return f"names: object name {name[:20]}({len(name)})"


def container_name(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    c["name"] = name = rng.choice(BAD_NAMES[:6] + ["main", "a" * 63])
    return f"names: container name {name[:20]}({len(name)})"


def volume_name(obj, rng):
    spec = pod_spec(obj)
    if not (spec or {}).get("volumes"):
        return None
    volume = rng.choice(spec["volumes"])
    new = rng.choice(["Data", "data_1", "a" * 64, "scratch2"])
    old, volume["name"] = volume["name"], new
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for mount in c.get("volumeMounts") or []:
            if mount["name"] == old:
                mount["name"] = new
    return f"names: volume {old} renamed {new[:20]}({len(new)})"


def label(obj, rng):
    where = obj["metadata"]
    if obj["kind"] in ("Job",) and rng.random() < 0.5:
        where = obj["spec"]["template"]["metadata"]
    labels = where.setdefault("labels", {})
    if rng.random() < 0.5:
        key, value = rng.choice(BAD_LABEL_KEYS), "x"
    else:
        key, value = "nautilus.io/note", rng.choice(BAD_LABEL_VALUES)
    labels[key] = value
    return f"labels: {key[:20]}({len(key)})={value[:20]}({len(value)})"


def annotation(obj, rng):
    key = rng.choice(BAD_LABEL_KEYS + ["nautilus.io/note"])
    obj["metadata"].setdefault("annotations", {})[key] = rng.choice(["x", "y" * 300000])
    return f"labels: annotation {key[:20]}({len(key)})"


# volumes ------------------------------------------------------------------------------------------------

def mount(obj, rng):
    c = _container(obj, rng)
    if c is None or not c.get("volumeMounts"):
        return None
    m = rng.choice(c["volumeMounts"])
    field, value = rng.choice([("name", "missing"), ("mountPath", "/dev/shm"), ("mountPath", "relative/path"),
                               ("mountPath", ""), ("subPath", "../up"), ("subPath", "/abs"), ("subPath", "ok"),
                               ("mountPropagation", "Bidirectional"), ("mountPropagation", "Sideways"),
                               ("readOnly", True), ("subPathExpr", "$(POD)"), ("recursiveReadOnly", "Enabled")])
    m[field] = value
    if field == "subPathExpr" and rng.random() < 0.5:
        m["subPath"] = "x"
    return f"volumes: {c['name']} mount {m.get('name')} {field}={value}"


def volume_source(obj, rng):
    spec = pod_spec(obj)
    if not (spec or {}).get("volumes"):
        return None
    v = rng.choice(spec["volumes"])
    choice = rng.randrange(8)
    if choice == 0:
        v["emptyDir"] = {"sizeLimit": "1Gi"}
        v.setdefault("configMap", {"name": "x"})
        what = "two sources"
    elif choice == 1:
        for key in list(v):
            if key != "name":
                del v[key]
        what = "no source"
    elif choice == 2:
        name = v["name"]; v.clear(); v.update({"name": name, "emptyDir": {"sizeLimit": rng.choice(["-1Gi", "0", "1Pi"])}})
        what = f"emptyDir sizeLimit {v['emptyDir']['sizeLimit']}"
    elif choice == 3:
        name = v["name"]; v.clear(); v.update({"name": name, "emptyDir": {"medium": rng.choice(["Memory", "HugePages", "Disk"])}})
        what = f"emptyDir medium {v['emptyDir']['medium']}"
    elif choice == 4:
        name = v["name"]; v.clear(); v.update({"name": name, "persistentVolumeClaim": {"claimName": rng.choice(["", "Other", "other"])}})
        what = f"claimName {v['persistentVolumeClaim']['claimName']!r}"
    elif choice == 5:
        name = v["name"]; v.clear()
        v.update({"name": name, "configMap": {"name": "cfg", "items": [{"key": "k", "path": rng.choice(["/abs", "../x", "ok", "a/../b"])}]}})
        what = f"configMap item path {v['configMap']['items'][0]['path']}"
    elif choice == 6:
        name = v["name"]; v.clear(); v.update({"name": name, "hostPath": {"path": "/tmp"}})
        what = "hostPath"
    else:
        name = v["name"]; v.clear(); v.update({"name": name, "configMap": {"name": "cfg", "defaultMode": rng.choice([420, 511, 512, -1])}})
        what = f"configMap defaultMode {v['configMap']['defaultMode']}"
    return f"volumes: {v['name']} {what}"


def volume_extra(obj, rng):
    spec = pod_spec(obj)
    if spec is None:
        return None
    spec.setdefault("volumes", []).append({"name": rng.choice(["extra", "data", "Extra"]), "emptyDir": {}})
    return f"volumes: extra volume {spec['volumes'][-1]['name']}"


# probes -------------------------------------------------------------------------------------------------

PROBE_HANDLERS = [{"exec": {"command": ["true"]}}, {"httpGet": {"port": 8080, "path": "/"}}, {"tcpSocket": {"port": 8080}},
                  {"grpc": {"port": 9000}}, {"httpGet": {"port": 0}}, {"tcpSocket": {"port": 70000}},
                  {"httpGet": {"port": "Not-A-Name"}}, {"httpGet": {"port": "metrics"}}, {}, {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}]


def probe(obj, rng):
    init = rng.random() < 0.2
    c = _container(obj, rng, init=init) or _container(obj, rng)
    if c is None:
        return None
    kind = rng.choice(["livenessProbe", "readinessProbe", "startupProbe"])
    p = dict(rng.choice(PROBE_HANDLERS))
    field, value = rng.choice([(None, None), ("periodSeconds", -1), ("periodSeconds", 0), ("successThreshold", 2),
                               ("failureThreshold", 0), ("timeoutSeconds", 5), ("initialDelaySeconds", -3),
                               ("terminationGracePeriodSeconds", 0), ("terminationGracePeriodSeconds", 30)])
    if field:
        p[field] = value
    c[kind] = p
    return f"probes: {c['name']} {kind} {sorted(k for k in p if not k.endswith(('Seconds', 'Threshold')))} {field}={value}"


def lifecycle(obj, rng):
    c = _container(obj, rng, init=rng.random() < 0.5) or _container(obj, rng)
    if c is None:
        return None
    handler = rng.choice([{"exec": {"command": ["true"]}}, {"sleep": {"seconds": 5}}, {"sleep": {"seconds": -1}}, {}])
    c["lifecycle"] = {rng.choice(["preStop", "postStart"]): handler}
    return f"probes: {c['name']} lifecycle {sorted(handler)}"


# env ----------------------------------------------------------------------------------------------------

def env(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    entry = rng.choice([
        {"name": "", "value": "x"}, {"name": "A=B", "value": "x"}, {"name": "1START", "value": "x"},
        {"name": "with space", "value": "x"}, {"name": "OK_NAME", "value": "x"}, {"name": "HOME", "value": "/tmp"},
        {"name": "BOTH", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "EMPTY_FROM", "valueFrom": {}},
        {"name": "FIELD", "valueFrom": {"fieldRef": {"fieldPath": rng.choice(["metadata.name", "spec.nodeName", "status.podIP",
                                                                               "metadata.labels['a b']", "spec.bogus", "metadata.labels"])}}},
        {"name": "RES", "valueFrom": {"resourceFieldRef": {"resource": rng.choice(["requests.cpu", "limits.memory", "requests.nvidia.com/gpu",
                                                                                  "limits.gpu", "requests.ephemeral-storage"])}}},
        {"name": "RES_DIV", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": rng.choice(["1m", "1", "2", "1Mi"])}}},
        {"name": "RES_OTHER", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": rng.choice(["nobody", c["name"]])}}},
        {"name": "TWO_SOURCES", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}, "resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": rng.choice(["cfg", ""]), "key": rng.choice(["k", "a/b", ""])}}},
    ])
    c.setdefault("env", []).append(entry)
    detail = {k: v for k, v in entry.items() if k != "name"}
    return f"env: {c['name']} {entry['name'][:12]!r} {str(detail)[:80]}"


def env_from(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    c["envFrom"] = [rng.choice([{"configMapRef": {"name": "cfg"}}, {"prefix": "1X", "configMapRef": {"name": "cfg"}},
                                {"prefix": "A=", "configMapRef": {"name": "cfg"}}, {"configMapRef": {"name": ""}}, {}])]
    return f"env: {c['name']} envFrom {str(c['envFrom'][0])[:60]}"


# ports --------------------------------------------------------------------------------------------------

def port(obj, rng):
    c = _container(obj, rng)
    if c is None:
        return None
    entry = {"containerPort": rng.choice([29500, 0, 70000, -1, 8080])}
    if rng.random() < 0.6:
        entry["name"] = rng.choice(["rdzv", "Metrics", "a-very-long-port-name", "9", "a--b", "ok-1", "-x"])
    if rng.random() < 0.3:
        entry["protocol"] = rng.choice(["TCP", "UDP", "SCTP", "HTTP"])
    if rng.random() < 0.2:
        entry["hostPort"] = rng.choice([0, 80, 70000])
    ports = c.setdefault("ports", [])
    ports.append(entry)
    if rng.random() < 0.25:
        ports.append(dict(entry))
    return f"ports: {c['name']} {entry}{' twice' if len(ports) > 1 and ports[-1] == ports[-2] else ''}"


# Job and pod fields -------------------------------------------------------------------------------------

JOB_FIELDS = [("backoffLimit", -1), ("backoffLimit", 0), ("parallelism", -1), ("parallelism", 0), ("completions", -1),
              ("completions", 3), ("activeDeadlineSeconds", 0), ("activeDeadlineSeconds", 60),
              ("ttlSecondsAfterFinished", -1), ("ttlSecondsAfterFinished", 0), ("completionMode", "Indexed"),
              ("completionMode", "Other"), ("backoffLimitPerIndex", 1), ("maxFailedIndexes", 1), ("suspend", True),
              ("manualSelector", True), ("selector", {"matchLabels": {"a": "b"}}), ("podReplacementPolicy", "Failed"),
              ("podReplacementPolicy", "TerminatingOrFailed"), ("podReplacementPolicy", "Sometimes"),
              ("successPolicy", {"rules": [{"succeededCount": 1}]}), ("managedBy", "example.com/other"),
              ("managedBy", "kubernetes.io/job-controller")]


def job_field(obj, rng):
    if obj["kind"] != "Job":
        return None
    field, value = rng.choice(JOB_FIELDS)
    obj["spec"][field] = value
    if field == "completionMode" and value == "Indexed" and rng.random() < 0.5:
        obj["spec"].pop("completions", None)
    return f"Job fields: {field}={str(value)[:40]}"


def failure_policy(obj, rng):
    if obj["kind"] != "Job":
        return None
    rule = rng.choice([
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0]}},
        {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1, 1]}},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3, 2]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "Count", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "Explode", "onExitCodes": {"operator": "In", "values": [1]}},
        {"action": "Ignore"},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "Maybe"}]},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}, "onPodConditions": [{"type": "X", "status": "True"}]},
    ])
    obj["spec"].setdefault("podFailurePolicy", {"rules": []})["rules"].append(rule)
    if rng.random() < 0.2:
        obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    return f"Job fields: podFailurePolicy {str(rule)[:70]} restart {obj['spec']['template']['spec']['restartPolicy']}"


def pod_field(obj, rng):
    spec = pod_spec(obj)
    if spec is None:
        return None
    field, value = rng.choice([("restartPolicy", "Always"), ("restartPolicy", "OnFailure"), ("restartPolicy", "Sometimes"),
                               ("activeDeadlineSeconds", 0), ("activeDeadlineSeconds", 3600), ("terminationGracePeriodSeconds", -1),
                               ("priorityClassName", "opportunistic"), ("priorityClassName", "no-such-class"),
                               ("dnsPolicy", "Bogus"), ("hostname", "Bad_Host"), ("subdomain", "ok-sub"),
                               ("nodeSelector", {"nvidia.com/gpu.product": "NVIDIA A10"}), ("nodeSelector", {"kubernetes.io/arch": "amd64"}),
                               ("schedulerName", ""), ("hostNetwork", True), ("shareProcessNamespace", True),
                               ("serviceAccountName", "Bad_SA"), ("runtimeClassName", "nvidia")])
    spec[field] = value
    return f"Job fields: pod {field}={value}"


def toleration(obj, rng):
    spec = pod_spec(obj)
    if spec is None:
        return None
    t = rng.choice([{"key": "nautilus.io/hardware", "operator": "Exists"}, {"key": "nautilus.io/hardware", "operator": "Exists", "value": "x"},
                    {"key": "a", "operator": "Equal", "value": "b", "effect": "Sometimes"},
                    {"key": "a", "operator": "Equal", "value": "b", "effect": "NoSchedule", "tolerationSeconds": 60},
                    {"key": "bad key", "operator": "Exists"}, {"operator": "Exists"}, {"key": "nautilus.io/system", "operator": "Exists"}])
    spec.setdefault("tolerations", []).append(t)
    return f"Job fields: toleration {t}"


def security(obj, rng):
    spec = pod_spec(obj)
    if spec is None:
        return None
    c = rng.choice(spec["containers"])
    field, where, value = rng.choice([("runAsUser", "pod", -1), ("runAsUser", "pod", 0), ("runAsNonRoot", "pod", False),
                                      ("seccompProfile", "pod", {"type": "Localhost"}), ("seccompProfile", "pod", {"type": "Unconfined"}),
                                      ("fsGroup", "pod", -5), ("allowPrivilegeEscalation", "container", True),
                                      ("privileged", "container", True), ("capabilities", "container", {"add": ["SYS_ADMIN"]}),
                                      ("readOnlyRootFilesystem", "container", False), ("runAsGroup", "container", -1),
                                      ("procMount", "container", "Weird")])
    target = spec.setdefault("securityContext", {}) if where == "pod" else c.setdefault("securityContext", {})
    target[field] = value
    return f"Job fields: securityContext ({where}) {field}={value}"


def container_field(obj, rng):
    c = _container(obj, rng, init=rng.random() < 0.3) or _container(obj, rng)
    if c is None:
        return None
    field, value = rng.choice([("image", ""), ("image", " bad image"), ("imagePullPolicy", "Sometimes"), ("imagePullPolicy", "Always"),
                               ("terminationMessagePolicy", "Bogus"), ("workingDir", "relative"), ("restartPolicy", "Always"),
                               ("restartPolicy", "Never"), ("stdin", True), ("command", [])])
    c[field] = value
    return f"Job fields: container {c['name']} {field}={value!r}"


# PersistentVolumeClaim and ConfigMap ---------------------------------------------------------------------

def claim(obj, rng):
    if obj["kind"] != "PersistentVolumeClaim":
        return None
    spec = obj["spec"]
    field, value = rng.choice([("storage", "0"), ("storage", "-1Gi"), ("storage", "1Ti"), ("storage", None),
                               ("accessModes", []), ("accessModes", ["ReadWriteAll"]), ("accessModes", ["ReadWriteOncePod", "ReadWriteOnce"]),
                               ("accessModes", ["ReadWriteOnce"]), ("volumeMode", "Weird"), ("volumeMode", "Block"),
                               ("storageClassName", "Bad_Class"), ("storageClassName", "rook-ceph-block"), ("storageClassName", "standard"),
                               ("limits", "1Gi"), ("dataSource", {"kind": "Thing", "name": "x"}), ("volumeName", "Bad_Name")])
    if field == "storage":
        requests = spec.setdefault("resources", {}).setdefault("requests", {})
        requests.pop("storage") if value is None else requests.__setitem__("storage", value)
    elif field == "limits":
        spec.setdefault("resources", {})["limits"] = {"storage": value}
    else:
        spec[field] = value
    return f"volumes: claim {field}={value}"


def config_map(obj, rng):
    if obj["kind"] != "ConfigMap":
        return None
    key = rng.choice(["a/b", "..", "", "ok.yaml", "x" * 254, "-dash", "with space", "train.yaml"])
    if rng.random() < 0.3:
        obj["binaryData"] = {key: "eA=="}
        return f"names: ConfigMap binaryData key {key[:20]}({len(key)})"
    obj.setdefault("data", {})[key] = rng.choice(["x", "y" * (1 << 20)])
    return f"names: ConfigMap data key {key[:20]}({len(key)}) value {len(obj['data'][key])} bytes"


MUTATIONS = [amount_request, amount_limit, amount_scaled, amount_drop, hugepages, gpu_count, gpu_resource_name, gpu_affinity,
             object_name, container_name, volume_name, label, annotation, mount, volume_source, volume_extra, probe,
             lifecycle, env, env_from, port, job_field, failure_policy, pod_field, toleration, security, container_field,
             claim, config_map]
