"""The benchmarks' building blocks do what their figures claim (tiny sizes, CPU, one thread)."""
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import ReferenceStep, interleaved, make_step, markdown_table, report  # noqa: E402
from bench.loader import pairs_per_second  # noqa: E402
from trainer.step import Step  # noqa: E402

TINY = {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2}


def normalised_biases(net: torch.nn.Module) -> set[str]:
    """Conv biases followed by an InstanceNorm: zero true gradient, so Adam turns float noise into +-lr steps."""
    mods = list(net.named_modules())
    return {f"{name}.bias" for (name, m), (_, nxt) in zip(mods, mods[1:])
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and isinstance(nxt, torch.nn.InstanceNorm2d)}


def test_baseline_reproduces_the_trainer_step_in_fp32():
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    ref, ref_nets = make_step("baseline", TINY, cpu, pool=2)
    ours, our_nets = make_step("fp32", TINY, cpu, pool=2)
    assert isinstance(ref, ReferenceStep) and isinstance(ours, Step)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):  # batch 2, pool of 2: from the second step on the pools swap images
        a, b = (torch.rand(2, 3, 16, 16, generator=g) * 2 - 1 for _ in "AB")
        torch.testing.assert_close(ref(a, b), ours(a, b), rtol=0, atol=1e-5)
    for name, net in ref_nets.items():
        skip = normalised_biases(net)
        theirs = dict(our_nets[name].named_parameters())
        for pname, value in net.named_parameters():
            if pname not in skip:
                torch.testing.assert_close(value, theirs[pname], rtol=0, atol=1e-6, msg=f"{name}.{pname}")
    x = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        for k in ("G_A", "G_B", "D_A", "D_B"):
            torch.testing.assert_close(ref_nets[k](x), our_nets[k](x), rtol=0, atol=1e-5)
    assert not torch.equal(ref_nets["G_A"].model[1].weight, make_step("fp32", TINY, cpu)[1]["G_A"].model[1].weight)


def test_modes_are_what_their_names_say():
    cpu = torch.device("cpu")
    amp, nets = make_step("amp+cl", TINY, cpu)
    assert amp.amp_dtype == torch.bfloat16 and not isinstance(amp.gens.G_A, torch._dynamo.eval_frame.OptimizedModule)
    assert nets["G_A"].model[1].weight.is_contiguous(memory_format=torch.channels_last)
    compiled, _ = make_step("amp+cl+compile", TINY, cpu)
    assert isinstance(compiled.gens.G_A, torch._dynamo.eval_frame.OptimizedModule)
    fp32, nets = make_step("fp32", TINY, cpu)
    assert fp32.amp_dtype is None and not nets["G_A"].model[1].weight.is_contiguous(memory_format=torch.channels_last)


def test_interleaved_rotates_the_order_and_times_each_run():
    calls = []
    runs = {k: (lambda k=k: (calls.append(k), time.sleep(0.02 if k == "b" else 0))) for k in "abc"}
    times = interleaved(runs, 3)
    assert calls == list("abcbcacab")
    assert all(len(t) == 3 for t in times.values())
    assert min(times["b"]) >= 0.02 > max(times["a"])


def test_pairs_per_second_draws_exactly_the_pairs_asked_for_across_epochs():
    seen = []

    class Counting(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, key):
            seen.append(key)
            return torch.zeros(1)

    assert pairs_per_second(Counting(), 7, 0) > 0
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


def test_report_writes_the_table_as_json_and_markdown(tmp_path, capsys):
    rows = [{"mode": "baseline", "img/s": 1.0}, {"mode": "amp", "img/s": 2.5}]
    report("x", {"date": "today"}, rows, tmp_path, ["note"])
    assert markdown_table(rows).splitlines() == ["| mode | img/s |", "| --- | --- |", "| baseline | 1 |", "| amp | 2.5 |"]
    assert (tmp_path / "x.md").read_text() == capsys.readouterr().out
    assert __import__("json").loads((tmp_path / "x.json").read_text())["rows"] == rows


@pytest.mark.parametrize("script", ["trainer.py", "loader.py", "distributed.py", "utilisation.py", "sizing.py"])
def test_bench_scripts_parse_their_arguments(script):
    import subprocess
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr


def test_mutation_tool_makes_one_small_change_per_mutant():
    from bench.mutation import listing, mutants
    source = ('"""doc"""\ndef f(a, b):\n    """doc"""\n    if a < b and not a:\n        return a + 1\n    return b\n'
              'SHAPE: tuple[int, ...] = (2, 3.5, None, "s")\n')
    found = list(mutants(source, "m.py"))
    assert [m for m, _ in found] == listing(source, "m.py")
    changes = {(m.line, m.change) for m, _ in found}
    assert {(4, "Lt -> LtE"), (4, "And -> Or"), (4, "drop Not"), (5, "Add -> Sub"), (5, "1 -> 0"),
            (4, "condition negated"), (5, "delete return")} <= changes
    assert not any("docstring" in m.change or m.line in (1, 3) for m, _ in found), "docstrings are not mutated"
    assert {(7, "2 -> 3"), (7, "3.5 -> 4.5")} <= changes
    assert not [m for m, _ in found if m.line == 7 and m.change not in ("2 -> 3", "3.5 -> 4.5", "delete annassign")], \
        "strings, None and the ellipsis of a type hint are left alone"
    texts = [text for _, text in found]
    assert len(set(texts)) == len(texts) and source not in texts
    for text in texts:
        compile(text, "m.py", "exec")


def test_mutation_config_names_real_modules_tests_and_mutants():
    """An equivalent mutant is keyed by its line: when the module moves, the key must move with it, or the
    listing silently excuses nothing (or the wrong mutant)."""
    from ruamel.yaml import YAML

    from bench.mutation import CONFIG, listing
    config = YAML(typ="safe").load(CONFIG.read_text())
    for module, tests in config["modules"].items():
        assert (REPO / module).is_file(), module
        assert tests and all((REPO / test).is_file() for test in tests), (module, tests)
    made = {m.key for module in config["modules"] for m in listing((REPO / module).read_text(), module)}
    for key, reason in config["equivalent"].items():
        assert key in made, f"{key}: no such mutant (did the line move?)"
        assert reason.strip(), f"{key}: say why it is equivalent"


def test_mutation_copy_is_a_work_tree_of_the_files_with_the_set_up_linked(tmp_path):
    """Tests that copy "this working tree" into a fork list its files with git, and run `.venv/bin/nautilus`
    and the tools of `make setup`: the private copy offers both, the links left out of the listing."""
    import subprocess

    from bench.mutation import private_copy
    copy = private_copy(tmp_path / "copy")
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=copy, capture_output=True,
                            text=True, check=True).stdout.split()
    assert {"bench/mutation.py", "generator/deploy/plan.py", "tests/test_bench.py"} <= set(listed)
    assert not {".venv", ".tools"} & set(listed)
    for name in (".venv", ".tools"):
        assert (copy / name).resolve() == (REPO / name).resolve()


TINY_MODULE = ("def double(x):\n    return 2 * x\n\n\ndef half(x):\n    if x:\n        return x / 2\n    return 0\n\n\n"
               "def triple(x):\n    return 3 * x\n")
TINY_TESTS = ("import subprocess, sys\nfrom m import double, half\n\n\ndef test_double():\n    assert double(2) == 4\n\n\n"
              "def test_half_in_a_subprocess():\n"  # the recording prints nothing there: tests read stderr
              "    proc = subprocess.run([sys.executable, '-c', 'import m; print(m.half(4))'], capture_output=True,"
              " text=True, check=True)\n"
              "    assert (proc.stdout, proc.stderr) == ('2.0\\n', '')\n"
              "    assert subprocess.run([sys.executable, '-c', 'pass'], capture_output=True).stderr == b''\n\n\n"
              "def test_triple_in_a_subprocess_of_its_own_environment():\n"  # as the workflow steps of the GitOps tests
              "    import os\n"
              f"    env = {{'PYTHONPATH': os.pathsep.join([os.getcwd(), {str(REPO)!r}])}}\n"
              "    proc = subprocess.run([sys.executable, '-c', 'import m; print(m.triple(2))'], capture_output=True,"
              " text=True, check=True, env=env)\n"
              "    assert (proc.stdout, proc.stderr) == ('6\\n', '')\n")


def test_mutation_tool_runs_each_mutant_with_the_tests_that_reach_its_line(tmp_path):
    """One recording run tells which test executes which line, also in the subprocesses a test starts; a line
    run while the module is imported may matter to every test."""
    from bench.mutation import own_lines, record, _sites
    import ast
    (tmp_path / "m.py").write_text(TINY_MODULE)
    (tmp_path / "test_m.py").write_text(TINY_TESTS)
    found = record(tmp_path, "m.py", ["test_m.py"])
    assert set(found.durations) == {"test_m.py::test_double", "test_m.py::test_half_in_a_subprocess",
                                    "test_m.py::test_triple_in_a_subprocess_of_its_own_environment"}
    tree = ast.parse(TINY_MODULE)
    owners = own_lines(tree)
    selected = {(node.lineno, change): found.tests_for(owners[node]) for node, change, _ in _sites(tree)}
    assert selected[(2, "Mult -> Div")] == ["test_m.py::test_double"]
    assert selected[(6, "condition negated")] == selected[(7, "Div -> Mult")] == ["test_m.py::test_half_in_a_subprocess"]
    assert selected[(8, "delete return")] == [], "no test reaches it: not covered"
    assert selected[(12, "Mult -> Div")] == ["test_m.py::test_triple_in_a_subprocess_of_its_own_environment"]
    assert not (tmp_path / "sitecustomize.py").exists(), "the recording's hook is gone before the mutants run"
    assert (tmp_path / "m.py").read_text() == TINY_MODULE
    assert owners[tree.body[1].body[0].test] == range(6, 7), "an if's condition is its own line, not its body"


def test_mutation_tool_prints_the_first_failure_of_tests_that_fail_unmutated(tmp_path):
    from bench.mutation import Failed, record
    (tmp_path / "m.py").write_text(TINY_MODULE)
    (tmp_path / "test_m.py").write_text("from m import double\n\n\ndef test_one():\n    assert double(2) == 5\n\n\n"
                                        "def test_two():\n    assert double(3) == 7\n")
    with pytest.raises(Failed) as failed:
        record(tmp_path, "m.py", ["test_m.py"])
    assert "fail without any mutation" in str(failed.value)
    assert "test_one" in str(failed.value) and "assert 4 == 5" in str(failed.value)
    assert "test_two" not in str(failed.value), "only the first failure"
    from bench.mutation import first_failure
    output = ("=== FAILURES ===\n_ test_a[x] _\nE   assert 1 == 2\n_ test_b _\nE   assert 3 == 4\n"
              "=== short test summary info ===\n")
    assert first_failure(output) == "_ test_a[x] _\nE   assert 1 == 2"


def test_mutation_tool_names_a_missing_test_file_in_one_line(tmp_path, capsys):
    from bench.mutation import main
    config = tmp_path / "mutation.yaml"
    config.write_text("modules:\n  generator/core/quantity.py: [tests/test_quantity.py, tests/test_no_such_file.py]\n")
    assert main(["--config", str(config), "generator/core/quantity.py"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tests/test_no_such_file.py" in err and "no such file" in err


def test_mutation_config_excuses_deleted_returns_only_where_they_return_none():
    """'A function without return gives None as well' holds for `return None` alone: a key left on its old line
    after the module changed would excuse the deletion of a real `return problem`."""
    from ruamel.yaml import YAML

    from bench.mutation import CONFIG
    config = YAML(typ="safe").load(CONFIG.read_text())
    for key, reason in config["equivalent"].items():
        if key.endswith(": delete return") and "gives None as well" in reason:
            module, line = key.split(":")[:2]
            statement = (REPO / module).read_text().splitlines()[int(line) - 1].strip()
            assert statement in ("return None", "return"), f"{key}: the line is {statement!r}"


def test_mutation_runner_tells_killed_survived_and_timed_out_apart(tmp_path):
    """Each run forks a fresh pytest that imports the module as it is on disk now, so each mutant is seen."""
    from bench.mutation import Runner
    (tmp_path / "m.py").write_text(TINY_MODULE)
    (tmp_path / "test_m.py").write_text("from m import double\n\n\ndef test_double():\n    assert double(2) == 4\n")
    runner = Runner(tmp_path, ["pytest"])
    try:
        assert runner.run(["test_m.py::test_double"], 60)[0] == "survived"
        (tmp_path / "m.py").write_text(TINY_MODULE.replace("2 * x", "2 + x + 1"))
        assert runner.run(["test_m.py::test_double"], 60)[0] == "killed"
        (tmp_path / "m.py").write_text(TINY_MODULE.replace("return 2 * x", "while True:\n        pass"))
        status, seconds = runner.run(["test_m.py::test_double"], 2)
        assert status == "timed out" and seconds < 30
        (tmp_path / "m.py").write_text(TINY_MODULE.replace("return 2 * x", "__import__('time').sleep(60)"))
        status, seconds = runner.run({"test_m.py::test_double": 1.0}, 120)
        assert status == "timed out" and seconds < 30, "each test's own limit, not the whole run's"
        (tmp_path / "m.py").write_text("syntax error(")
        assert runner.run(["test_m.py::test_double"], 60)[0] == "killed", "a module that no longer imports"
    finally:
        runner.close()
