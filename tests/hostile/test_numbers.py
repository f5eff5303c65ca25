"""Class 2, numbers: every number from a flag, a file or a variable goes through one parser (trainer/inputs.py)
that bounds digits and range, takes ASCII digits only and refuses NaN and infinities where they make no
sense. Integers past Python's 4,300-digit conversion limit, `²` (which str.isdigit() accepts and int()
refuses), `٣` (which int() reads as 3) and `.nan` in a sweep are one `error:` line, exit 2, naming the source."""
import json
import subprocess
import time

import pytest

from hostile_support import nautilus, refused as refused_cli
from trainer import inputs
from trainer.errors import UsageError
from trainer_hostile import ENV, PYTHON, REPO, Run, refused, tiny_run, trainer

HUGE = "9" * 5000
SWEEP = ["--namespace", "ns", "--gpus", "0", "--sweep", "train.lr=1e-4,2e-4"]


def with_env(module: str, *args, env: dict, timeout: float = 60) -> Run:
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", f"trainer.{module}", *map(str, args)], capture_output=True, cwd=REPO,
                          env={**ENV, **env}, timeout=timeout)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
               time.perf_counter() - start)


@pytest.mark.parametrize("text", ["²", "٣", HUGE, "1_000", "0x10", "1.0", " ", " 1", "1\n", "+", "12345678901234567890123"])
def test_parse_int_takes_ascii_digits_within_bounds_only(text):
    with pytest.raises(UsageError, match="^--parallel .* is not a whole number from 1 to 64; "):
        inputs.parse_int(text, "--parallel", 1, 64)


@pytest.mark.parametrize("text, expected", [("nan", "is nan, not a finite number"), ("-inf", "is -inf, not a finite"),
                                            ("1e400", "is inf, not a finite"), ("1" * 60, "is not a number"),
                                            ("٣", "is not a number"), ("5e2", "500 is not between 0 and 100")])
def test_parse_float_refuses_what_makes_no_sense(text, expected):
    with pytest.raises(UsageError, match=expected):
        inputs.parse_float(text, "$X", 0, 100)


def test_parse_float_may_allow_infinity_where_it_makes_sense():
    assert inputs.parse_float("inf", "--deadline", 0, float("inf"), finite=False) == float("inf")
    assert inputs.parse_int("+42", "--n", 0, 64) == 42


@pytest.mark.parametrize("parallel", ["²", "٣", HUGE])
def test_new_parallel(tmp_path, parallel):
    refused_cli(nautilus("new", "p", *SWEEP, "--parallel", parallel, "--output-dir", tmp_path),
                "--parallel", "is not a whole number from 1 to 64")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sweep, expected", [
    ("train.lr=.nan,1e-4", "--sweep grid.train.lr.0 is nan, not a finite number"),
    ("train.lr=1e-4,-.inf", "--sweep grid.train.lr.1 is -inf, not a finite number"),
    ("train.batch_size=1," + HUGE, "holds a number too long to read"),
    ("train.batch_size=1,123456789012345678901234", "has a whole number of more than 20 digits"),
], ids=["nan", "minus-inf", "5000-digits", "24-digits"])
def test_new_sweep_values(tmp_path, sweep, expected):
    refused_cli(nautilus("new", "p", "--namespace", "ns", "--gpus", "0", "--sweep", sweep, "--output-dir", tmp_path), expected)
    assert list(tmp_path.iterdir()) == []


def test_validate_finds_a_nan_in_an_overlays_sweep_yaml(tmp_path):
    assert nautilus("new", "p", *SWEEP, "--output-dir", tmp_path).code == 0
    sweep = tmp_path / "p/sweep.yaml"
    sweep.write_text(sweep.read_text().replace("train.lr: [0.0001, 0.0002]", "train.lr: [.nan, 0.0002]"))
    run = nautilus("validate", tmp_path / "p")
    assert (run.code, "Traceback" in run.err) == (1, False), run.err
    assert "sweep.yaml grid.train.lr.0 is nan, not a finite number" in run.out


@pytest.mark.parametrize("index", ["²", "٣", HUGE, "-1"])
def test_completion_index_from_the_flag_or_the_variable(tmp_path, index):
    (tmp_path / "sweep.yaml").write_text("grid: {train.lr: [0.1, 0.2]}\n")
    for run in (trainer("sweep", "trainer.train", "--config", tmp_path / "train.yaml", "--index", index, "--root", tmp_path),
                with_env("sweep", "trainer.train", "--config", tmp_path / "train.yaml", "--root", tmp_path,
                         env={"JOB_COMPLETION_INDEX": index})):
        refused(run, "completion index (--index or $JOB_COMPLETION_INDEX)", "is not a whole number from 0 to 100000")


@pytest.mark.parametrize("variable, value, expected", [
    ("NAUTILUS_USAGE_EVERY", "nan", "$NAUTILUS_USAGE_EVERY is nan, not a finite number"),
    ("NAUTILUS_USAGE_EVERY", "soon", "$NAUTILUS_USAGE_EVERY 'soon' is not a number"),
    ("NAUTILUS_USAGE_EVERY", "0", "$NAUTILUS_USAGE_EVERY 0 is not between 0.01 and 604800"),
    ("NAUTILUS_CPU_REQUEST", "²", "$NAUTILUS_CPU_REQUEST '²' is not a whole number"),
    ("NAUTILUS_MEMORY_LIMIT", HUGE, "$NAUTILUS_MEMORY_LIMIT '99999"),
    ("NAUTILUS_MEMORY_REQUEST", "-1", "$NAUTILUS_MEMORY_REQUEST '-1' is not a whole number from 0"),
])
def test_the_usage_monitors_variables(tmp_path, variable, value, expected):
    _, cfg = tiny_run(tmp_path)
    refused(with_env("prepare", "--config", cfg, "--root", tmp_path / "pvc", "--published-only", env={variable: value}),
            expected)


@pytest.mark.parametrize("variable", ["RANK", "WORLD_SIZE"])
def test_torchruns_variables(tmp_path, variable):
    _, cfg = tiny_run(tmp_path)
    (tmp_path / "sweep.yaml").write_text("grid: {train.lr: [0.1, 0.2]}\n")
    run = with_env("sweep", "trainer.train", "--config", cfg, "--index", "0", "--root", tmp_path, env={variable: "²"})
    refused(run, f"${variable} '²' is not a whole number")


def test_a_5000_digit_override_is_one_line(tmp_path):
    _, cfg = tiny_run(tmp_path)
    refused(trainer("train", "--config", cfg, "--root", tmp_path, "--set", f"train.batch_size={HUGE}"),
            "holds a number too long to read")


def test_report_json_is_strict_json(tmp_path):
    """--format json parses with NaN and Infinity refused: every figure it prints is finite."""
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps({"requests": {"cpu": 2, "memory": 2**30}, "cpu": {"mean_cores": 1.5},
                                 "memory": {"mean_bytes": 2**29, "peak_bytes": 2**29}, "seconds": 60}))
    run = nautilus("report", REPO / "tests/validate/project/overlays/demo", "--usage", usage, "--format", "json")
    assert run.code == 0, run.err

    def refuse(name):
        raise ValueError(name)
    assert json.loads(run.out, parse_constant=refuse)["usage"][0]["cpu_used"] == 1.5
