"""Kubernetes resource quantities as `nautilus new` and `nautilus validate` read and write them: every suffix,
exponent forms, YAML numbers, the range Kubernetes can represent, the sane ranges of policy.yaml, and the
shortest forms the report and the generated overlays print."""
from fractions import Fraction

import pytest

from generator.core import quantity

RANGES = {"cpu": ["1m", "1024"], "memory": ["1Mi", "16Ti"]}  # as schemas/policy.yaml `quantities`
BEYOND = "is beyond what Kubernetes can represent (1n to 9.22e+18)"
EXAMPLES = "(examples: 500m, 4, 16Gi, 512Mi)"


@pytest.mark.parametrize("text, amount", [
    ("7", 7), ("7n", Fraction(7, 1_000_000_000)), ("7u", Fraction(7, 1_000_000)), ("7m", Fraction(7, 1000)),
    ("7k", 7_000), ("7M", 7_000_000), ("7G", 7_000_000_000), ("7T", 7_000_000_000_000),
    ("7P", 7_000_000_000_000_000), ("7E", 7_000_000_000_000_000_000),
    ("7Ki", 7 * 1024), ("7Mi", 7 * 1024 * 1024), ("7Gi", 7 * 1024 ** 3), ("7Ti", 7 * 1024 ** 4),
    ("7Pi", 7 * 1024 ** 5), ("7Ei", 7 * 1024 ** 6),
])
def test_every_suffix_scales_exactly(text, amount):
    assert quantity.parse(text) == amount


@pytest.mark.parametrize("text, amount", [
    ("1.5G", 1_500_000_000), ("1.5Gi", 1536 * 1024 * 1024), (".5", Fraction(1, 2)), ("5.", 5), ("+5", 5),
    ("2e3", 2000), ("2E3", 2000), ("2e+3", 2000), ("2e-3", Fraction(2, 1000)), ("1e-9", Fraction(1, 10 ** 9)),
    ("1.5e3", 1500), ("1e18", 10 ** 18), ("0e40", 0),
    ("1e000003", 1000), ("1e-0009", Fraction(1, 10 ** 9)), ("1e" + "0" * 5000 + "3", 1000),  # as Kubernetes reads them
    ("1e0", 1), ("1e000", 1),
    ("0", 0), ("-0", 0), ("-0.0Gi", 0),
])
def test_decimal_and_exponent_forms(text, amount):
    assert quantity.parse(text) == amount


@pytest.mark.parametrize("value, amount", [(4, 4), (0, 0), (1.5, Fraction(3, 2)), (2.0, 2), (0.001, Fraction(1, 1000))])
def test_yaml_numbers_are_read_exactly(value, amount):
    """`cpu: 1.5` and `cpu: 4` arrive from YAML as float and int, not as text."""
    assert quantity.parse(value) == amount


def test_the_largest_int64_is_the_limit():
    assert quantity.parse("9223372036854775807") == 2 ** 63 - 1
    assert quantity.parse("7Ei") == 7 * 2 ** 60
    for text in ("9223372036854775808", "8Ei", "1e19", "10E"):
        with pytest.raises(ValueError) as error:
            quantity.parse(text)
        assert str(error.value) == f"{text!r} {BEYOND}"


def test_nothing_finer_than_a_nano():
    assert quantity.parse("1n") == Fraction(1, 10 ** 9)
    assert quantity.parse("0.001u") == Fraction(1, 10 ** 9)
    for text in ("0.5n", "0.9n", "1e-10", "0.0000000001"):
        with pytest.raises(ValueError) as error:
            quantity.parse(text)
        assert str(error.value) == f"{text!r} {BEYOND}"


@pytest.mark.parametrize("text, shown", [
    ("1e400", "'1e400'"), ("1e-400", "'1e-400'"), ("0e41", "'0e41'"), ("1e100000", "'1e100000'"),
    ("1e999999999", "'1e999999999'"), ("1e" + "1" * 5000, f"'1e{'1' * 25}...{'1' * 28}'"),
], ids=["1e400", "1e-400", "0e41", "1e100000", "1e999999999", "5000-digit-exponent"])
def test_exponents_beyond_the_range(text, shown):
    with pytest.raises(ValueError) as error:
        quantity.parse(text)
    assert str(error.value) == f"{shown} {BEYOND}"


@pytest.mark.parametrize("value, message", [
    ("-1", "'-1' is negative"), ("-0.5Gi", "'-0.5Gi' is negative"), (-2, "'-2' is negative"),
    (float("inf"), "inf is not a finite number: quote the amount, and keep it within Kubernetes' range"),
    (float("-inf"), "-inf is not a finite number: quote the amount, and keep it within Kubernetes' range"),
    (float("nan"), "nan is not a finite number: quote the amount, and keep it within Kubernetes' range"),
    (True, f"True is not a Kubernetes quantity {EXAMPLES}"),
    (False, f"False is not a Kubernetes quantity {EXAMPLES}"),
    (None, f"None is not a Kubernetes quantity {EXAMPLES}"),
    (["1"], f"['1'] is not a Kubernetes quantity {EXAMPLES}"),
    ("12 GB", f"'12 GB' is not a Kubernetes quantity {EXAMPLES}"),
    ("1GB", f"'1GB' is not a Kubernetes quantity {EXAMPLES}"),
    ("1K", f"'1K' is not a Kubernetes quantity {EXAMPLES}"),
    ("1mi", f"'1mi' is not a Kubernetes quantity {EXAMPLES}"),
    ("1e", f"'1e' is not a Kubernetes quantity {EXAMPLES}"),
    ("1e3Gi", f"'1e3Gi' is not a Kubernetes quantity {EXAMPLES}"),
    ("", f"'' is not a Kubernetes quantity {EXAMPLES}"),
    ("\u0664", f"'\u0664' is not a Kubernetes quantity {EXAMPLES}"),  # a digit, but not one Kubernetes reads
])
def test_what_is_not_a_quantity_says_why(value, message):
    with pytest.raises(ValueError) as error:
        quantity.parse(value)
    assert str(error.value) == message
    assert quantity.is_quantity(value) is False


@pytest.mark.parametrize("value", ["500m", "16Gi", 4, 1.5, "-0"])
def test_is_quantity(value):
    assert quantity.is_quantity(value) is True


@pytest.mark.parametrize("resource, value", [
    ("cpu", "1m"), ("cpu", "1024"), ("cpu", 1.5), ("cpu", "2500m"), ("memory", "1Mi"), ("memory", "16Ti"),
    ("memory", "1048576.5"),  # half a byte is odd but only cpu counts in whole units (millicores)
    ("nvidia.com/gpu", "100"),  # no sane range for it: only the grammar
])
def test_sane_amounts_have_no_problem(resource, value):
    assert quantity.problem(resource, value, RANGES) is None


@pytest.mark.parametrize("resource, value, message", [
    ("cpu", "2000", "'2000' is outside 1m to 1024, the sane range for cpu (policy.yaml quantities)"),
    ("cpu", 1025, "1025 is outside 1m to 1024, the sane range for cpu (policy.yaml quantities)"),
    ("cpu", "999u", "'999u' is outside 1m to 1024, the sane range for cpu (policy.yaml quantities)"),
    ("cpu", "0", "'0' is outside 1m to 1024, the sane range for cpu (policy.yaml quantities)"),
    ("memory", "1023Ki", "'1023Ki' is outside 1Mi to 16Ti, the sane range for memory (policy.yaml quantities)"),
    ("memory", "17Ti", "'17Ti' is outside 1Mi to 16Ti, the sane range for memory (policy.yaml quantities)"),
    ("cpu", "1500u", "'1500u' is finer than a millicore (1m)"),
    ("cpu", "2.0005", "'2.0005' is finer than a millicore (1m)"),
    ("cpu", "lots", f"'lots' is not a Kubernetes quantity {EXAMPLES}"),
    ("nvidia.com/gpu", "-1", "'-1' is negative"),
])
def test_problem_names_what_is_wrong(resource, value, message):
    assert quantity.problem(resource, value, RANGES) == message


@pytest.mark.parametrize("amount, text", [
    (24 * 2 ** 30, "24Gi"), (1536 * 2 ** 20, "1536Mi"), (2 ** 40, "1Ti"), (3 * 2 ** 40, "3Ti"),
    (512 * 2 ** 20, "512Mi"),
    (2048, "2Ki"), (1024, "1Ki"), (1536, "1536"), (1000, "1000"), (1, "1"), (0, "0"),
])
def test_format_bytes_is_the_shortest_exact_form(amount, text):
    assert quantity.format_bytes(Fraction(amount)) == text
    assert quantity.parse(text) == amount


@pytest.mark.parametrize("amount, text", [
    (Fraction(12), "12"), (Fraction(0), "0"), (Fraction(3, 2), "1500m"), (Fraction(1, 1000), "1m"),
    (Fraction(250, 1000), "250m"),
])
def test_format_cpu_writes_whole_cores_or_millicores(amount, text):
    assert quantity.format_cpu(amount) == text
    assert quantity.parse(text) == amount


def test_a_megabyte_long_value_is_refused_at_once_and_quoted_short():
    """A run of zeros in an exponent never makes the grammar backtrack, and the message stays one short line."""
    text = "1e" + "0" * 1_000_000 + "x"
    with pytest.raises(ValueError) as error:
        quantity.parse(text)
    assert str(error.value) == f"'1e{'0' * 25}...{'0' * 27}x' is not a Kubernetes quantity {EXAMPLES}"
    assert quantity.problem("memory", ["1Gi"] * 1000, RANGES).startswith("['1Gi', '1Gi', '1Gi', '1Gi', '1Gi', '1Gi', ...] is not")
