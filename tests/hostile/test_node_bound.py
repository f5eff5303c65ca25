"""Messages that name the real cause: the YAML node bound counts what aliases add per document, so a long
stream of small documents is not called an alias bomb (it is bounded by bytes and by a stream-wide count
instead), and a sweep.yaml that is not UTF-8 is said to be so."""
import pytest

from hostile_support import nautilus
from trainer.safe_yaml import MAX_NODES, MAX_STREAM_NODES, YAMLInputError, load_all

SMALL = "kind: ConfigMap\nmetadata: {name: c%d, namespace: ns}\ndata: {a: b, c: d}\n"


def test_ten_thousand_small_documents_are_not_an_alias_bomb():
    docs = load_all("---\n".join(SMALL % i for i in range(10_000)))
    assert len(docs) == 10_000 and docs[-1]["metadata"]["name"] == "c9999"


def test_a_stream_past_the_stream_bound_is_told_to_be_split():
    doc = "[" + "a, " * 999 + "a]\n"
    with pytest.raises(YAMLInputError, match=f"holds more than {MAX_STREAM_NODES:,} YAML nodes; split it into smaller"):
        load_all("---\n".join([doc] * (MAX_STREAM_NODES // 1000 + 10)))


def test_one_huge_document_without_aliases_is_not_blamed_on_aliases():
    with pytest.raises(YAMLInputError) as caught:
        load_all("---\nkind: A\n---\n[" + "a, " * MAX_NODES + "a]\n", "big.yaml")
    assert str(caught.value) == (f"big.yaml document 2 holds more than {MAX_NODES:,} YAML nodes in one document; "
                                 "split it into several documents or files")


def test_an_alias_bomb_is_still_one_and_says_how_much_is_copied():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "\n".join(f"b{i}: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]"
                                                                 for i in range(2000))
    with pytest.raises(YAMLInputError, match=r"expands to more than 100,000 YAML nodes \(anchors and aliases counted "
                                             r"as copies: [0-9,]+ of them are copies\); remove the aliases"):
        load_all(bomb)


def test_a_latin_1_sweep_yaml_is_said_to_be_not_utf_8(tmp_path):
    run = nautilus("new", "p", "--namespace", "ns", "--gpus", "0", "--sweep", "train.lr=1e-4,2e-4", "--output-dir", tmp_path)
    assert run.code == 0, run.err
    sweep = tmp_path / "p/sweep.yaml"
    sweep.write_bytes("# taux d'apprentissage: café\n".encode("latin-1") + sweep.read_bytes())
    run = nautilus("validate", tmp_path / "p")
    assert (run.code, "Traceback" in run.err) == (1, False), run.err
    assert "sweep.yaml is not UTF-8 text (the ConfigMap holds it as binaryData); save it as UTF-8" in run.out
    assert "mounts no ConfigMap" not in run.out
