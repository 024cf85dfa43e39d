"""Emotion: labels shared with the corpus, the lexicon classifier, Warm Chat's talking tree (Eq. 10)."""

from __future__ import annotations

import numpy as np
import pytest

from duet.emotion import EMOTIONS, RELATIONS, TalkingTree, classify, emotion_id, emotion_track, relation_from_text
from duet.errors import DuetError


def onehot(label: str, conf: float = 1.0) -> np.ndarray:
    p = np.full(len(EMOTIONS), (1 - conf) / (len(EMOTIONS) - 1))
    p[EMOTIONS.index(label)] = conf
    return p


def test_vocabularies_match_the_corpus():
    from duet.corpus.animator import EMOTIONS as CORPUS_EMOTIONS, RELATIONS as CORPUS_RELATIONS

    assert EMOTIONS == tuple(CORPUS_EMOTIONS) and RELATIONS == tuple(CORPUS_RELATIONS)
    assert emotion_id("joy") == EMOTIONS.index("happy")
    with pytest.raises(DuetError, match="unknown emotion"):
        emotion_id("hangry")


@pytest.mark.parametrize("text, label", [
    ("That was a brilliant goal, I loved it!", "happy"),
    ("This is ridiculous, the referee robbed us!", "angry"),
    ("I miss him so much.", "sad"),
    ("No way, really?", "surprised"),
    ("I'm so nervous about the exam.", "fearful"),
    ("Eww, that smells disgusting.", "disgusted"),
    ("The train leaves at six.", "neutral"),
])
def test_classify(text, label):
    p = classify(text)
    assert p.shape == (len(EMOTIONS),) and p.sum() == pytest.approx(1.0)
    assert EMOTIONS[int(np.argmax(p))] == label


def test_negation_turns_joy_away_and_leans_it_towards_sadness():
    plain, negated = classify("I am happy about this."), classify("I am not happy about this.")
    happy, sad = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    assert plain[happy] > 0.5 and negated[happy] == 0.0  # all of the joy is gone...
    assert negated[sad] > 0.3 > plain[sad]               # ...and part of it flips to its opposite
    assert EMOTIONS[int(np.argmax(classify("I am not sad at all.")))] == "neutral"  # a negated sorrow is no joy


@pytest.mark.parametrize("text, relation", [
    ("two old friends arguing", "nonblood-equal"), ("a mother scolding her son", "blood-unequal"),
    ("two brothers at dinner", "blood-equal"), ("a boss and an employee", "nonblood-unequal"),
])
def test_relation_from_text(text, relation):
    assert relation_from_text(text) == relation


def test_tree_structure_follows_eq7():
    tree = TalkingTree()
    s1, l1 = tree.add_turn("A", onehot("happy"))
    s2, l2 = tree.add_turn("B", onehot("sad"))
    assert (s1.depth, l1.depth, s2.depth) == (1, 1, 2)
    assert s1.right is l1 and l1.left is s1 and l1.child is s2 and s2.parent is l1
    assert (l1.person, l1.role, s2.person) == ("B", "listen", "B")
    assert [n.depth for n in tree.reverse_level_order(2)] == [2, 2, 1, 1]


def test_eq10_weights_history_by_depth():
    tree = TalkingTree()
    tree.add_turn("A", onehot("happy", 0.9))  # depth 1
    tree.add_turn("B", onehot("happy", 0.9))  # depth 2
    s3, l3 = tree.add_turn("A", onehot("angry", 0.9))  # depth 3
    # speak node: P_v + sum over depths <= 2 of D(u) P_u, worked by hand
    off = 0.1 / 6
    happy = off + 1 * 0.9 + 2 * 0.9
    angry = 0.9 + 1 * off + 2 * off
    assert tree.score(s3)[EMOTIONS.index("happy")] == pytest.approx(happy)
    assert tree.score(s3)[EMOTIONS.index("angry")] == pytest.approx(angry)
    assert tree.current(s3) == "happy"  # one angry line does not yet outweigh the warm history
    # listen: sum_{D(u) <= 3} D(u) P_u, including the speaker's line at depth 3 weighted 3
    assert tree.score(l3)[EMOTIONS.index("angry")] == pytest.approx(3 * 0.9 + 3 * off)
    tree.add_turn("B", onehot("angry", 0.9))
    s5, _ = tree.add_turn("A", onehot("angry", 0.9))
    assert tree.current(s5) == "angry"  # recent anger (depths 3, 4) now dominates


def test_emotion_track_per_frame():
    turns = [{"speaker": "A", "start": 0.5, "end": 2.0, "emotion": "happy"},
             {"speaker": "B", "start": 2.2, "end": 4.0, "text": "Wow, that is wonderful news!"},
             {"speaker": "A", "start": 4.0, "end": 6.0, "emotion": "sad", "confidence": 0.95}]
    track = emotion_track(turns, T=150, fps=25)
    assert track.A.shape == (150,) and track.A.dtype == np.int64
    assert track.names("A")[0] == "happy" and track.names("A")[60] == "happy"  # before turn 1, turn 1's
    assert track.names("B")[80] == "happy"  # B's own happy line
    assert len(track.turns) == 3 and set(track.turns[0]) == {"A", "B"}
    with pytest.raises(DuetError):
        emotion_track([{"speaker": "C", "start": 0, "end": 1, "text": "hi"}], 10, 25)


def test_the_scene_names_the_senior_by_who_it_mentions_first():
    from duet.emotion.labels import SENIOR_B, senior_from_text
    from duet.pipeline import Request, labels

    assert senior_from_text("A mother talks with her son") == "A"
    assert senior_from_text("An employee asks her boss for a raise") == "B"  # A, mentioned first, is junior
    assert senior_from_text("a grandson visits his grandmother") == "B"
    assert senior_from_text("a nurse and a doctor") is None  # one side named: either could be the doctor
    assert senior_from_text("two friends on a bench") is None
    req = lambda **kw: Request(audio="x.wav", **kw)  # noqa: E731
    assert labels(req(prompt="an employee asks her boss for a raise"))[1] == "nonblood-unequal" + SENIOR_B
    assert labels(req(prompt="an employee asks her boss", senior="A"))[1] == "nonblood-unequal"  # the user's word
    assert labels(req(prompt="a student asks a question", relation="blood-unequal"))[1] == "blood-unequal"
    assert labels(req(prompt="a son helps his father", relation="parent-child"))[1] == "blood-unequal" + SENIOR_B
    assert labels(req(relation="parent-child"))[1] == "blood-unequal"
    assert labels(req(prompt="a son and his father", relation="friends"))[1] == "nonblood-equal"  # no senior


def test_the_senior_side_is_marked_only_in_an_unequal_relation():
    from duet.emotion.labels import SENIOR_B, with_senior
    from duet.errors import DuetError

    assert with_senior("blood-unequal", "B") == "blood-unequal" + SENIOR_B
    assert with_senior("blood-unequal", "A") == with_senior("blood-unequal", None) == "blood-unequal"
    assert with_senior("nonblood-equal", "B") == "nonblood-equal"  # equals have no senior
    assert with_senior(None, "B") is None
    with pytest.raises(DuetError, match="A or B"):
        with_senior("blood-unequal", "C")
