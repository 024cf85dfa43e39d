"""Layout: offline retrieval + rules, few-shot prompting against a real local OpenAI-protocol server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_duet
from openai_server import _server, llm_server, offline_env, refusal, reply, sleep, status, raw  # noqa: F401

from duet import layout
from duet.layout import prompting


@pytest.fixture(autouse=True)
def _tfidf(monkeypatch):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "tfidf")  # the MiniLM path has its own test below


def test_offline_kitchen_table_is_a_table_width_apart(offline_env):
    got = layout.predict("two old friends arguing about football across a kitchen table")
    assert got.source == "offline" and got.reason == ""
    assert 0.8 <= got.distance <= 1.3
    assert got.A[1] == pytest.approx(1.2) and got.B[1] == pytest.approx(1.2)  # seated at the table
    assert abs(got.A[0] - got.B[0]) < 0.05  # face to face runs along Z


@pytest.mark.parametrize("prompt, lo, hi", [
    ("A girl whispering a secret to her friend", 0.15, 0.4),
    ("Two people calling to each other across a busy street", 4.0, 6.0),
    ("Standing about three metres apart", 2.9, 3.1),
    ("Two neighbours talking, a metre and a half apart", 1.45, 1.55),
])
def test_offline_distance_words(offline_env, prompt, lo, hi):
    assert lo <= layout.predict(prompt).distance <= hi


def test_offline_side_by_side_and_postures(offline_env):
    bench = layout.predict("Two friends sitting side by side on a park bench")
    assert abs(bench.A[2] - bench.B[2]) < 0.05 and bench.B[0] - bench.A[0] > 0.3  # along X, A on the left
    teacher = layout.predict("A teacher standing over a seated student")
    assert teacher.A[1] > teacher.B[1] + 0.3


def test_offline_beats_knn_average_on_held_out_set(offline_env):
    from duet.layout.evaluate import score
    from duet.layout.offline import knn_average, predict_offline

    ours = score(predict_offline)
    knn = score(knn_average)
    assert len(layout.eval_set()) >= 30
    assert not {p for p, _ in layout.eval_set()} & {p for p, _ in layout.examples()}
    assert ours["tmse"] < 0.15 and ours["pass_rate"] >= 0.7
    assert ours["tmse"] < knn["tmse"]


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


def test_cli_reports_fallback_without_leaking_the_key(llm_server):
    llm_server.script(status(500))
    r = run_duet("layout", "two people on a bench", "--json", env={"DUET_TEXT_EMBEDDING": "tfidf"})
    assert r.rc == 0 and "HTTP 500" in r.err and "offline" in r.err
    assert "sk-test-secret-key" not in r.err + r.out
    assert json.loads(r.out)["source"] == "offline"


def test_minilm_retrieval_loads_offline(offline_env, monkeypatch):
    monkeypatch.setenv("DUET_TEXT_EMBEDDING", "minilm")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from duet.layout.embedding import embed
    from duet.layout.offline import neighbours

    _, method = embed(["x"], ["x"])
    assert method == "minilm"
    (i, sim), = neighbours("Two mates perched on a park bench, watching football")
    assert "bench" in layout.examples()[i][0] and sim > 0.5
