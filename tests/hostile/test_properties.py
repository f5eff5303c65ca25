"""Property tests of the parsers a user's text reaches (Hypothesis; settings in conftest.py): quantities,
image references, sweep values, usage files, numbers, and the image name derived from any git remote. Each
either accepts its input with the meaning it says, or refuses it with its one error type, never anything else."""
import json
import math
import os
import string
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, event, given, strategies as st
from ruamel.yaml import YAML

from generator.core import image_ref, published_image, quantity
from generator.review import measured
from generator.scaffold import sweep
from hostile_support import PROJECT, REPO
from trainer import inputs
from trainer.errors import UsageError

TEXT = st.text(max_size=60) | st.text(alphabet=string.printable, max_size=60)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


# --- quantities (generator/core/quantity.py) ------------------------------------------------------------------

SUFFIXES = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u"]
QUANTITY_TEXT = st.builds(lambda sign, number, tail: sign + number + tail, st.sampled_from(["", "+", "-"]),
                          st.from_regex(r"[0-9]{1,25}(\.[0-9]{0,12})?|\.[0-9]{1,12}", fullmatch=True),
                          st.sampled_from(SUFFIXES) | st.from_regex(r"[eE][+-]?[0-9]{1,8}", fullmatch=True))


@given(TEXT | QUANTITY_TEXT | st.integers() | st.floats() | JSON)
def test_a_quantity_parses_to_an_exact_amount_in_range_or_is_one_value_error(value):
    try:
        amount = quantity.parse(value)
    except ValueError as exc:
        assert str(exc) and quantity.is_quantity(value) is False
        assert quantity.problem("memory", value, {"memory": ["1Mi", "1Ti"]}) == str(exc)
        return
    event("a quantity")
    assert isinstance(amount, Fraction) and (amount == 0 or quantity.FINEST <= amount <= quantity.LARGEST)
    assert quantity.is_quantity(value) and quantity.problem("cpu", value, {}) is None
    judged = quantity.problem("cpu", value, {"cpu": ["1m", "1000"]})
    assert (judged is None) == (Fraction(1, 1000) <= amount <= 1000 and (amount * 1000).denominator == 1)


@given(st.integers(0, quantity.LARGEST))
def test_bytes_round_trip_through_their_shortest_form(amount):
    text = quantity.format_bytes(Fraction(amount))
    assert quantity.parse(text) == amount and len(text) <= len(str(amount))


@given(st.integers(0, 10**12))
def test_cpu_round_trips_through_cores_or_millicores(millicores):
    amount = Fraction(millicores, 1000)
    assert quantity.parse(quantity.format_cpu(amount)) == amount


@given(st.integers(0, 10**9), st.sampled_from(SUFFIXES))
def test_a_number_and_suffix_mean_their_product(number, suffix):
    unit = quantity._SUFFIX[suffix]
    expected = number * unit
    if expected > quantity.LARGEST or 0 < expected < quantity.FINEST:
        with pytest.raises(ValueError):
            quantity.parse(f"{number}{suffix}")
    else:
        assert quantity.parse(f"{number}{suffix}") == expected


# --- image references (generator/core/image_ref.py) -----------------------------------------------------------

COMPONENT = st.from_regex(r"[a-z0-9]{1,6}(([_.]|__|-{1,3})[a-z0-9]{1,6}){0,2}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-zA-Z0-9]{1,8}(\.[a-zA-Z0-9]{1,8}){0,2}(:[0-9]{1,5})?", fullmatch=True)
TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
DIGEST = st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)


@given(TEXT | st.from_regex(r"[a-zA-Z0-9._/:@-]{0,40}", fullmatch=True) | JSON)
def test_any_text_is_a_reference_or_one_value_error(text):
    try:
        reference = image_ref.parse(text)
    except ValueError as exc:
        assert str(exc)
        return
    event("a reference")
    assert len(reference.name) <= image_ref.NAME_MAX
    assert text == reference.name + (f":{reference.tag}" if reference.tag else "") + (
        f"@{reference.digest}" if reference.digest else "")


@given(st.none() | DOMAIN, st.lists(COMPONENT, min_size=1, max_size=4), st.none() | TAG, st.none() | DIGEST)
def test_a_reference_built_from_the_grammar_reads_back_as_its_parts(domain, path, tag, digest):
    name = "/".join(([domain] if domain else []) + path)
    text = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assume(len(name) <= image_ref.NAME_MAX)
    reference = image_ref.parse(text)
    assert (reference.name, reference.tag, reference.digest) == (name, tag or "", digest or "")
    pinned = bool(digest) or (bool(tag) and tag != "latest")
    assert (image_ref.unpinned(reference) is None) == pinned


# --- sweep values (generator/scaffold/sweep.py, trainer/variants.py) ------------------------------------------

TRAIN = YAML(typ="safe").load((PROJECT / "overlays/demo/train.yaml").read_text())
KEYS = st.sampled_from(["train.lr", "train.epochs", "train.batch_size", "model.ngf", "train.lambda_identity"]) | \
    st.from_regex(r"[a-z_]{1,6}\.[a-z_.]{1,8}", fullmatch=True) | st.text(max_size=10)
VALUE_TEXT = st.floats().map(repr) | st.integers().map(str) | st.text(alphabet="0123456789.eE+-naifINF_x:[]{}'\"",
                                                                        max_size=12) | TEXT


def rates_option(rates: list[float]) -> list[str]:
    return [f"train.lr={','.join(map(repr, rates))}"]


@given(st.lists(st.builds(lambda key, values: f"{key}={','.join(values)}", KEYS,
                          st.lists(VALUE_TEXT, min_size=1, max_size=4)), min_size=1, max_size=3)
       | st.lists(st.floats(1e-6, 1) | st.floats(), min_size=1, max_size=4).map(rates_option),
       st.integers(1, 3) | st.integers(1, 70))
def test_any_sweep_option_expands_to_checked_variants_or_one_usage_error(options, parallel):
    try:
        values = sweep.grid(tuple(options))
        sweep.check(values, parallel, TRAIN)
    except UsageError as exc:
        assert exc.what and exc.fix
        return
    event("variants")
    found = sweep.variants(values, TRAIN)
    assert len(found) == math.prod(len(v) for v in values.values()) and parallel <= len(found)
    assert [v.index for v in found] == list(range(len(found))) and len({v.name for v in found}) == len(found)
    for variant in found:
        for value in variant.values.values():
            assert not (isinstance(value, float) and not math.isfinite(value))
            assert not (type(value) is int and abs(value) >= 10**inputs.MAX_DIGITS)


@given(st.lists(st.floats(min_value=1e-12, max_value=1.0), min_size=1,
                max_size=5, unique=True))
def test_distinct_learning_rates_become_one_variant_each(rates):
    values = sweep.grid(tuple(rates_option(rates)))
    assert values == {"train.lr": rates}
    sweep.check(values, len(rates), TRAIN)
    found = sweep.variants(values, TRAIN)
    assert [v.values for v in found] == [{"train.lr": rate} for rate in rates]


# --- usage files (generator/review/measured.py) ---------------------------------------------------------------

FIGURE = st.none() | st.integers() | st.floats() | st.booleans() | st.text(max_size=4)
SECTION = st.dictionaries(st.sampled_from(["cpu", "memory", "mean_cores", "mean_bytes", "peak_bytes", "mean_percent"]),
                          FIGURE, max_size=4)
USAGE = st.dictionaries(st.sampled_from(["requests", "cpu", "memory", "gpu", "warnings", "project", "container",
                                         "seconds"]), SECTION | FIGURE | JSON, max_size=8)
SUMMARY = st.fixed_dictionaries(  # the shape a run writes, its figures anything
    {"requests": SECTION, "cpu": SECTION, "memory": SECTION},
    optional={"gpu": SECTION | FIGURE, "warnings": st.lists(JSON, max_size=3) | FIGURE, "project": FIGURE,
              "container": st.sampled_from(["train", "data", "prepare"]) | FIGURE, "seconds": FIGURE})
FOLDER = Path(tempfile.mkdtemp(prefix="nautilus-properties-"))


@given(SUMMARY | USAGE | JSON)
def test_any_json_as_a_usage_file_is_one_usage_error_or_a_table(document):
    path = FOLDER / "usage.json"
    path.write_text(json.dumps(document))   # NaN and Infinity written as JavaScript spells them: refused
    try:
        found = measured.entries([path], {})
    except UsageError as exc:
        assert exc.what.startswith(f"--usage {path}") and exc.fix
        return
    event("a table")
    table = measured.markdown(found)
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 3   # header, rule, the run
    assert "nan" not in table.lower() and "inf" not in table.lower()


# --- numbers (trainer/inputs.py) -------------------------------------------------------------------------------

NUMBER_TEXT = st.integers().map(str) | st.floats().map(repr) | st.text(alphabet="0123456789+-.eE ²٣", max_size=30) \
    | TEXT | st.from_regex(r"[+-]?[0-9]{15,30}", fullmatch=True)


@given(NUMBER_TEXT, st.integers(-10**6, 10**6), st.integers(0, 10**19))
def test_parse_int_returns_a_number_in_range_written_in_ascii_digits_or_one_usage_error(text, low, span):
    high = low + span
    try:
        value = inputs.parse_int(text, "--n", low, high)
    except UsageError as exc:
        assert exc.what.startswith("--n ") and exc.fix
        return
    event("a whole number")
    assert low <= value <= high and value == int(text)
    assert all(c in "+-0123456789" for c in text) and len(text.lstrip("+-")) <= inputs.MAX_DIGITS


@given(st.integers(-10**19 + 1, 10**19 - 1))
def test_every_whole_number_of_twenty_digits_or_fewer_round_trips(value):
    assert inputs.parse_int(str(value), "--n", -10**19, 10**19) == value


@given(NUMBER_TEXT, st.booleans())
def test_parse_float_returns_a_finite_number_in_range_or_one_usage_error(text, finite):
    try:
        value = inputs.parse_float(text, "$X", -1e6, 1e6, finite=finite)
    except UsageError as exc:
        assert exc.what.startswith("$X ") and exc.fix
        return
    event("a number")
    assert math.isnan(value) or -1e6 <= value <= 1e6
    assert finite is False or math.isfinite(value)
    assert text.isascii()


@given(st.floats(-1e6, 1e6))
def test_every_finite_float_round_trips_through_its_repr(value):
    assert inputs.parse_float(repr(value), "$X", -1e6, 1e6) == value


@given(st.text(alphabet=string.digits, min_size=1, max_size=5), st.sampled_from("²³¹٣۴߁०১੨௩໒༣၄႐០᠑१"), st.integers(0, 5))
def test_digits_other_than_ascii_are_refused(digits, other, at):
    text = digits[:at] + other + digits[at:]
    with pytest.raises(UsageError):
        inputs.parse_int(text, "--n", 0, 10**20)
    with pytest.raises(UsageError):
        inputs.parse_float(text, "--x", 0, 1e30)


# --- image names derived from a remote (generator/core/published_image.py) -------------------------------------

def _valid(name: str) -> bool:
    try:
        return image_ref.parse(f"{name}:t").name == name
    except ValueError:
        return False


GITHUB_NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)
HOST = st.sampled_from(["github.com", "GitHub.com", "GITHUB.COM", "gitHub.Com"])


def remote(scheme: str, host: str, owner: str, repository: str, suffix: str) -> str:
    if scheme == "scp":
        return f"git@{host}:{owner}/{repository}{suffix}"
    return f"{scheme}{host}/{owner}/{repository}{suffix}"


@given(TEXT | st.builds(remote, st.sampled_from(["https://", "HTTPS://", "ssh://git@", "git://", "scp",
                                                     "https://user:token@"]),
                          HOST | st.text(max_size=12), TEXT | GITHUB_NAME, TEXT | GITHUB_NAME,
                          st.sampled_from(["", ".git", "/", ".git/"])))
def test_any_remote_gives_a_valid_name_or_a_clear_error_never_a_crash(url):
    name = published_image.name_from_remote(url)
    if name is None:
        return
    assert name == name.lower() and name.startswith("ghcr.io/") and name.endswith("/trainer")
    image = published_image.Image(name, "src-0123456789ab", "the git remote origin (URL)")
    try:
        image.check()
    except UsageError as exc:
        assert exc.what.startswith("the image name that the git remote origin (URL) gives is not valid")
        assert "--image" in exc.fix and "--image" not in exc.what
        return
    event("a valid name")
    assert image_ref.parse(str(image)).name == name


@given(st.sampled_from(["https://", "HTTPS://", "ssh://git@", "scp"]), HOST,
       st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,10}[A-Za-z0-9])?", fullmatch=True), st.sampled_from(["", ".git"]))
def test_a_github_remote_in_any_case_names_its_owners_image(scheme, host, owner, repository, suffix):
    name = published_image.name_from_remote(remote(scheme, host, owner, repository, suffix))
    assert name == f"ghcr.io/{owner}/{repository}/trainer".lower()
    if _valid(name):
        published_image.Image(name, "src-0123456789ab", "origin").check()
    else:  # GitHub takes my_-repo, a registry does not: said, naming the remote
        with pytest.raises(UsageError, match="the image name that origin gives is not valid"):
            published_image.Image(name, "src-0123456789ab", "origin").check()


# --- the workflow's shell agrees with the Python on which names are valid ---------------------------------------

def _workflow_check() -> str:
    """The name check of image.yml's step `image`, as a bash function over lines of stdin."""
    steps = YAML(typ="safe").load((REPO / ".github/workflows/image.yml").read_text())["jobs"]["publish"]["steps"]
    script = next(s for s in steps if s.get("id") == "image")["run"].splitlines()
    part, host = (next(line.strip() for line in script if line.strip().startswith(f"{var}=")) for var in ("part", "host"))
    test = next(line.strip() for line in script if line.strip().startswith("if [[ ! $name =~"))
    condition = test.removeprefix("if ").removesuffix("; then")
    return f"{part}\n{host}\nwhile IFS= read -r name; do name=\"${{name,,}}\"; if {condition}; then echo bad; else echo ok; fi; done\n"


NAMES = st.text(alphabet="abcAB019._-:/", min_size=1, max_size=40) | st.builds(
    lambda domain, path: "/".join(([domain] if domain else []) + path), st.none() | DOMAIN,
    st.lists(COMPONENT, min_size=1, max_size=3))


@given(st.lists(NAMES, min_size=1, max_size=40))
def test_image_workflow_and_python_accept_the_same_names(names):
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", _workflow_check()], input="\n".join(names) + "\n",
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], "LC_ALL": "C"}, check=True)
    assert proc.stdout.split() == ["ok" if _valid(name.lower()) else "bad" for name in names]
