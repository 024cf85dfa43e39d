"""The offline script writer: a small grammar of dialogue moves, filled from the scenario's words.

The prompt's mood (arguing, celebrating, grieving, worrying, chatting) picks the moves and their
emotions, its topic ("about ...") fills the slots, and the seed varies everything else: the number
of turns, the sentences, hedges and openers, the voices, interjections and overlaps.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from duet.emotion import relation_from_text

INTERJECTIONS = ("uh-huh", "hmm", "okay", "yeah")  # CHAT section 4.2's W_inter
P_INTER = 0.5  # chance that the listener backchannels during a turn long enough for it

MOODS = {  # mood: (prompt words, emotion of each move)
    "argue": (r"argu|fight|disagree|debat|quarrel|row(ing)? about|bicker|complain|furious|angry|heated",
              {"open": "angry", "claim": "angry", "counter": "angry", "question": "surprised", "answer": "angry",
               "close": "neutral"}),
    "happy": (r"celebrat|good news|excit|birthday|wedding|won|winning|promotion|laugh|joke|happy|reunion|party",
              {"open": "happy", "claim": "happy", "counter": "surprised", "question": "happy", "answer": "happy",
               "close": "happy"}),
    "sad": (r"sad|grie|funeral|loss|lost|break(ing)? up|broke up|bad news|miss|sorry|cry|sick|hospital|goodbye",
            {"open": "sad", "claim": "sad", "counter": "neutral", "question": "sad", "answer": "sad",
             "close": "neutral"}),
    "worried": (r"worr|nervous|afraid|scared|anxious|exam|interview|danger|lost in|late for",
                {"open": "fearful", "claim": "fearful", "counter": "neutral", "question": "fearful",
                 "answer": "neutral", "close": "neutral"}),
    "chat": (r"", {"open": "happy", "claim": "neutral", "counter": "neutral", "question": "neutral",
                   "answer": "neutral", "close": "happy"}),
}

LINES = {  # mood -> move -> templates; {topic} is the scenario's subject
    "argue": {
        "open": ["I can't believe you still think that about {topic}.", "Here we go again with {topic}.",
                 "You're wrong about {topic}, and you know it.", "Every time, {topic}! Every single time!"],
        "claim": ["It's obvious. Anyone who knows anything about {topic} can see it.",
                  "Look, the numbers don't lie. {topic_cap} has been a disaster all year.",
                  "No, listen to me. That is not how {topic} works.",
                  "You always say that, and you're always wrong.",
                  "Honestly, I'm fed up with hearing the same excuse."],
        "counter": ["That's ridiculous and you know it.", "Oh, come on! You were saying the opposite last week.",
                    "Rubbish. Absolute rubbish.", "You're not even listening to me.",
                    "That's not fair, and it's not what I said."],
        "question": ["Really? You honestly believe that?", "Seriously? Since when?", "Wait, what? Who told you that?",
                     "Are you joking? After everything that happened?"],
        "answer": ["Since always. Open your eyes.", "Everyone knows it. Everyone except you.",
                   "Because I was there, that's why.", "I'm not joking. I've never been more serious."],
        "close": ["Fine. Let's just agree to disagree.", "Okay, okay. Pass me the salt and let's drop it.",
                  "Whatever. Same time next week?", "Let's talk about something else before we fall out."],
    },
    "happy": {
        "open": ["Guess what? I've got news about {topic}!", "You'll never believe it. {topic_cap}, finally!",
                 "I've been dying to tell you about {topic}!"],
        "claim": ["It was wonderful, honestly the best day in ages.", "Everyone was laughing the whole time.",
                  "I'm so happy about {topic}, I could dance.", "It turned out even better than we hoped."],
        "counter": ["No way! Are you serious?", "Wow, I had no idea!", "Stop it, really?"],
        "question": ["So how did it feel?", "Tell me everything. What happened next?",
                     "Who else was there?", "Did you take any pictures?"],
        "answer": ["It felt amazing, like a dream.", "Oh, it was brilliant. We stayed till midnight.",
                   "Everyone came! Even your cousin.", "Loads of pictures. I'll send them tonight."],
        "close": ["We have to celebrate properly this weekend.", "I'm so glad for you. Really.",
                  "Cheers to that!"],
    },
    "sad": {
        "open": ["I heard about {topic}. I'm so sorry.", "Have you got a minute? It's about {topic}.",
                 "I didn't sleep much. I keep thinking about {topic}."],
        "claim": ["I just miss how things used to be.", "It's hard. Some days are worse than others.",
                  "I keep thinking I could have done something.", "The house feels so quiet now."],
        "counter": ["You couldn't have known. Nobody could.", "That's not your fault, you know that.",
                    "It's okay to feel like this."],
        "question": ["How are you holding up?", "Do you want to talk about it?", "Is there anything I can do?"],
        "answer": ["Not great, to be honest.", "Maybe later. Not yet.", "Just being here helps. Thank you."],
        "close": ["I'm here, whenever you need me.", "Let's take it one day at a time.",
                  "Call me tomorrow, okay?"],
    },
    "worried": {
        "open": ["I'm really nervous about {topic}.", "Can I tell you something? {topic_cap} scares me a bit.",
                 "I can't stop worrying about {topic}."],
        "claim": ["What if it all goes wrong?", "I keep imagining the worst.", "I'm afraid I'm not ready.",
                  "My hands are shaking just thinking about it."],
        "counter": ["You've prepared for this for weeks.", "You'll be fine. You always are.",
                    "Take a breath. It's not as bad as it looks."],
        "question": ["Are you sure?", "But what if they ask about the hard part?", "Will you come with me?"],
        "answer": ["Of course I'm sure.", "Then you tell them what you know. That's all.",
                   "Yes, I'll be right there."],
        "close": ["Okay. Thank you, I feel a little better.", "Right. Deep breath. Let's do this.",
                  "Thanks for listening."],
    },
    "chat": {
        "open": ["So, what do you think about {topic}?", "Have you heard the latest about {topic}?",
                 "I was just thinking about {topic}."],
        "claim": ["I think it's a good idea, mostly.", "It reminds me of last summer, actually.",
                  "To be fair, it could be worse.", "I read something about {topic} yesterday."],
        "counter": ["Maybe, but I'm not so sure.", "That's one way to see it.", "Hmm, I see it a bit differently."],
        "question": ["What would you do?", "Where did you hear that?", "Do you think it will change?"],
        "answer": ["Probably the same as you.", "From a friend at work.", "It might, give it time."],
        "close": ["Anyway, it was good to catch up.", "Let's talk about it over lunch.", "Well, we'll see."],
    },
}
OPENERS = {"argue": ["Look, ", "Come on, ", "Listen, ", "No, "], "happy": ["Oh, ", "Honestly, ", ""],
           "sad": ["Well, ", "I know. ", ""], "worried": ["I mean, ", "Well, ", ""], "chat": ["Well, ", "So, ", ""]}
PROSODY = {  # emotion -> (rate, pitch, energy)
    "neutral": (1.0, 1.0, 1.0), "happy": (1.08, 1.12, 1.15), "sad": (0.86, 0.92, 0.7),
    "angry": (1.15, 1.08, 1.35), "surprised": (1.05, 1.2, 1.2), "fearful": (1.1, 1.1, 0.85),
    "disgusted": (0.95, 0.95, 1.05),
}
PEOPLE = {  # words in the prompt -> two descriptions (first is A)
    r"old friends?": ("an old friend, loud and stubborn", "an old friend, dry and sarcastic"),
    r"couple|husband|wife|partner": ("one half of a couple, warm and quick", "the other half, calm and teasing"),
    r"mother|mum|mom": ("a mother, patient but firm", "a grown-up child, restless"),
    r"father|dad": ("a father, gruff and kind", "a grown-up child, thoughtful"),
    r"boss|manager": ("a manager, brisk and busy", "an employee, careful and polite"),
    r"sisters": ("an older sister, bossy", "a younger sister, cheeky"),
    r"brothers": ("an older brother, bossy", "a younger brother, cheeky"),
    r"brother|sister|sibling": ("an older sibling, bossy", "a younger sibling, cheeky"),
    r"teacher|student": ("a teacher, encouraging", "a student, unsure of themself"),
    r"doctor|patient": ("a doctor, gentle and precise", "a patient, anxious"),
    r"strangers?": ("a stranger, friendly", "another stranger, reserved"),
}
VOICES = {"male": ("espeak:en-us+m3", "espeak:en-gb-x-rp+m3", "espeak:en+m3", "espeak:en-us+m1"),
          "female": ("espeak:en-us+f2", "espeak:en-gb-x-rp+f2", "espeak:en+f2", "espeak:en-us+f3")}
_MALE = r"\b(man|men|father|dad|brothers?|husband|boys?|grandfather|he|his|him|sons?|uncle|king|guys?)\b"
_FEMALE = r"\b(woman|women|mother|mum|mom|sisters?|wife|girls?|grandmother|she|her|daughters?|aunt|queen|lad(y|ies))\b"


def write_offline(prompt: str, seed: int = 0) -> dict:
    """A schema-valid script (without validation) for ``prompt``; the same seed gives the same script."""
    rng = np.random.default_rng([seed, _digest(prompt)])
    mood = next(m for m, (pattern, _) in MOODS.items() if not pattern or re.search(pattern, prompt, re.I))
    emotions = MOODS[mood][1]
    topic = _topic(prompt)
    n = int(rng.integers(5, 11))
    moves = _moves(mood, n, rng)
    first = "A"
    turns, used = [], set()
    for k, move in enumerate(moves):
        speaker = first if k % 2 == 0 else ("B" if first == "A" else "A")
        options = [t for t in LINES[mood][move] if t not in used] or LINES[mood][move]
        template = options[int(rng.integers(len(options)))]
        used.add(template)
        text = template.format(topic=topic, topic_cap=topic[:1].upper() + topic[1:])
        if move in ("claim", "counter") and rng.random() < 0.35:
            opener = OPENERS[mood][int(rng.integers(len(OPENERS[mood])))]
            text = opener + text[:1].lower() + text[1:] if opener else text
        emotion = emotions[move]
        rate, pitch, energy = PROSODY[emotion]
        jitter = lambda x, s: float(round(x * (1 + rng.uniform(-s, s)), 3))  # noqa: E731
        pause = 0.15 if mood == "argue" else (0.6 if mood == "sad" else 0.35)
        turn = {"speaker": speaker, "text": text, "emotion": emotion,
                "prosody": {"rate": jitter(rate, 0.04), "pitch": jitter(pitch, 0.04), "energy": jitter(energy, 0.05),
                            "pause": 0.0 if k == 0 else jitter(pause, 0.4)},
                "interjection": None, "overlap": 0.0}
        if len(text.split()) >= 6 and rng.random() < P_INTER:
            turn["interjection"] = {"text": INTERJECTIONS[int(rng.integers(len(INTERJECTIONS)))],
                                    "at": float(round(rng.uniform(0.35, 0.7), 2))}
        if k > 0 and mood == "argue" and rng.random() < 0.4:
            turn["overlap"] = float(round(rng.uniform(0.15, 0.4), 2))  # heated: cutting in
        turns.append(turn)
    speakers = _speakers(prompt, rng)
    return {"version": 1, "prompt": prompt, "seed": int(seed), "source": "offline",
            "relation": relation_from_text(prompt), "speakers": speakers, "turns": turns}


def _moves(mood: str, n: int, rng) -> list[str]:
    """open, then alternating exchanges, then close: n moves in all."""
    middle = []
    while len(middle) < n - 2:
        if mood == "argue" or rng.random() < 0.5:
            middle += ["claim", "counter"]
        else:
            middle += ["question", "answer"]
    if rng.random() < 0.5 and n - 2 >= 2:
        middle[-2:] = ["question", "answer"]
    return ["open", *middle[: n - 2], "close"]


def _topic(prompt: str) -> str:
    m = re.search(r"\babout (.+?)(?=\s+(across|at|in|on|over|while|during|after|before|by|near|under)\b|[,.;!?]|$)",
                  prompt, re.I)
    if m:
        return m.group(1).strip()
    for word in ("wedding", "birthday", "exam", "interview", "funeral", "holiday", "job", "match", "game"):
        if word in prompt.lower():
            return f"the {word}"
    return "all this"


def _speakers(prompt: str, rng) -> dict:
    descriptions = ("a thoughtful person", "a lively person")
    for pattern, pair in PEOPLE.items():
        if re.search(pattern, prompt, re.I):
            descriptions = pair
            break
    genders = []
    for d in descriptions:
        if re.search(_MALE, d, re.I):
            genders.append("male")
        elif re.search(_FEMALE, d, re.I):
            genders.append("female")
        else:
            genders.append(None)
    hint = (re.search(_MALE, prompt, re.I) is not None, re.search(_FEMALE, prompt, re.I) is not None)
    if hint in ((True, False), (False, True)):  # the prompt names only men or only women
        genders = [g or ("male" if hint[0] else "female") for g in genders]
    if genders[0] is None:
        genders[0] = "male" if rng.random() < 0.5 else "female"
    if genders[1] is None:  # different genders keep the two voices easy to tell apart
        genders[1] = "female" if genders[0] == "male" else "male"
    voices = []
    for g in genders:
        options = [v for v in VOICES[g] if v not in voices]
        voices.append(options[int(rng.integers(len(options)))])
    return {p: {"description": d, "voice": v} for p, d, v in zip("AB", descriptions, voices)}


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
