"""Emotion over the conversation: labels, social relations, a text classifier and the talking tree.

- ``EMOTIONS``: the emotion labels (MEAD's categories, neutral first; the corpus's tuple); ids are indices into it.
- ``RELATIONS``: the social relation taxonomy of RSATalker (blood/non-blood x equal/unequal).
- ``classify(text)``: an offline distribution over EMOTIONS (a lexicon with negation and intensity).
- ``TalkingTree`` (Warm Chat, section 3.2): one speak node and one listen node per turn; the current
  emotion of each is Eq. 10's depth-weighted vote over the history.
- ``emotion_track(turns, T, fps)``: per-frame emotion ids for A and B, what the model conditions on.
"""

from __future__ import annotations

from duet.emotion.labels import EMOTIONS, RELATIONS, emotion_id, relation_from_text
from duet.emotion.lexicon import classify
from duet.emotion.tree import EmotionTrack, Node, TalkingTree, emotion_track

__all__ = ["EMOTIONS", "RELATIONS", "emotion_id", "relation_from_text", "classify", "TalkingTree", "Node",
           "EmotionTrack", "emotion_track"]
