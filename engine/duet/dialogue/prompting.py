"""The LLM script writer (CHAT sections 4.1-4.2): identities, 5-10 turns, emotions, prosody, interjections.

The model chooses each speaker's gender; Duet picks installed voices for them, so a script never
names a voice this machine lacks. The answer must pass schema.json, else one retry, else LLMError.
"""

from __future__ import annotations

import json

import numpy as np

from duet import llm
from duet.dialogue.grammar import VOICES
from duet.emotion import EMOTIONS, relation_from_text

TEMPERATURE = 0.9
MAX_TOKENS = 1500

SYSTEM = (
    "You write short, natural two-person conversations for animation. Reply with ONLY one JSON object:\n"
    '{"speakers": {"A": {"description": str, "gender": "male"|"female"}, "B": {...}},\n'
    ' "turns": [{"speaker": "A"|"B", "text": str, "emotion": one of ' + json.dumps(list(EMOTIONS)) + ",\n"
    '   "prosody": {"rate": 0.7-1.5, "pitch": 0.7-1.5, "energy": 0.3-1.5, "pause": seconds 0-2 before the turn},\n'
    '   "interjection": null or {"text": "uh-huh"|"hmm"|"okay"|"yeah", "at": 0.1-0.9 (fraction of the turn)},\n'
    '   "overlap": seconds 0-0.8 this turn cuts into the previous one}]}\n'
    "Rules: 5 to 10 turns, speakers alternate, each turn one to three spoken sentences, second-person and "
    "conversational; an interjection is the LISTENER's short backchannel during that turn; overlap only "
    "in heated or excited moments."
)


def write_llm(prompt: str, seed: int = 0) -> dict:
    """A validated script from the endpoint; LLMError with the reason when it gives none."""
    from duet.dialogue import validate

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Scenario: {prompt}"}]
    for attempt in range(2):
        try:
            answer = llm.chat_json(messages, temperature=TEMPERATURE, max_tokens=MAX_TOKENS)
            return validate(_complete(answer, prompt, seed))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            problem = llm.BadAnswer(f"the script does not fit the schema ({e})")
        except llm.BadAnswer as e:
            problem = e
        if attempt == 1:
            raise llm.BadAnswer(f"{problem} (after one retry)")
    raise AssertionError("unreachable")


def _complete(answer: dict, prompt: str, seed: int) -> dict:
    """Add what Duet decides itself: voices, relation, provenance; fill optional fields."""
    rng = np.random.default_rng(seed)
    speakers, chosen = {}, []
    for p in "AB":
        s = answer["speakers"][p]
        gender = s.get("gender") if s.get("gender") in VOICES else ("male" if p == "A" else "female")
        options = [v for v in VOICES[gender] if v not in chosen]
        chosen.append(options[int(rng.integers(len(options)))])
        speakers[p] = {"description": str(s["description"]), "voice": chosen[-1]}
    turns = []
    for t in answer["turns"]:
        turns.append({"speaker": t["speaker"], "text": t["text"], "emotion": t["emotion"], "prosody": t["prosody"],
                      "interjection": t.get("interjection"), "overlap": t.get("overlap", 0.0)})
    return {"version": 1, "prompt": prompt, "seed": int(seed), "source": "llm",
            "relation": relation_from_text(prompt), "speakers": speakers, "turns": turns}
