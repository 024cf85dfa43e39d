"""Who speaks when in a mono mix, from GE2E voice embeddings of real speech (numpy only).

Speech runs (WebRTC voice activity) are cut into pieces of at most PIECE_S; each piece gets a GE2E
embedding (`duet.audio.ge2e`). Two-means clustering on the unit sphere (started from the two least
alike long pieces) gives two voices; they are one voice when their centres are more alike than
SAME_VOICE_COS. A two-state Viterbi path over the pieces, with a cost for changing voice that is
smaller across a pause, then names each piece. A short run alone in a pause inside the other
person's turn (a backchannel such as "mm-hm") goes to the listener unless it clearly sounds like the
speaker. The result says how sure it is: the cosine between the two voices, and the stretches whose
pieces sit nearly halfway between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from duet.constants import FPS

PIECE_S = 1.0
SAME_VOICE_COS = 0.86  # two voices' centres more alike than this are one voice (chosen on the dev split)
CONFIDENT_COS = 0.80  # below this the two voices are told apart with confidence
SWITCH_COST = 0.15  # cosine units a change of voice costs between touching pieces (a quarter across a pause)
UNSURE_MARGIN = 0.03  # a piece this close to halfway between the voices is uncertain
BACKCHANNEL_S = 0.6  # a run this short, alone in the other person's turn, may be the listener's "mm-hm"
BACKCHANNEL_BIAS = 0.05  # how much more it must sound like the speaker to stay the speaker's


@dataclass
class Diarization:
    masks: np.ndarray  # [2, T] bool, rows in clustering order
    voices: int  # 1 or 2 as decided (or forced)
    voice_cos: float  # cosine between the two voices' centres (1.0 when there was nothing to split)
    forced: bool = False
    uncertain: list = field(default_factory=list)  # [(start_s, end_s)] stretches of unsure pieces

    def verdict(self) -> str:
        """One line for the user: how sure the front end is about who speaks."""
        if self.voices == 1:
            return "one voice (forced)" if self.forced else "one voice heard"
        if self.uncertain:
            a, b = max(self.uncertain, key=lambda s: s[1] - s[0])
            return f"two voices, uncertain between {a:.1f} s and {b:.1f} s"
        if self.forced or self.voice_cos < CONFIDENT_COS:
            return "two voices (forced)" if self.forced else "two voices, confident"
        return "two voices, but they sound alike: check the turns (--turns-out)"


def pieces(speech: np.ndarray, piece: int) -> list[tuple[int, int]]:
    """Speech runs [start, end) in frames, long ones cut into equal pieces of at most `piece`."""
    from duet.audio.masks import _runs

    out = []
    for s, e in _runs(speech):
        k = max(1, int(np.ceil((e - s) / piece)))
        cuts = np.linspace(s, e, k + 1).astype(int)
        out += [(int(cuts[i]), int(cuts[i + 1])) for i in range(k)]
    return out


def two_means(emb: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted spherical 2-means: (labels [P], unit centres [2, D])."""
    sim = emb @ emb.T
    long_ = np.flatnonzero(weight >= np.percentile(weight, 30))
    sub = sim[np.ix_(long_, long_)]
    i, j = np.unravel_index(np.argmin(sub), sub.shape)
    centres = emb[[long_[i], long_[j]]]
    labels = np.zeros(len(emb), np.int64)
    for _ in range(20):
        labels = (emb @ centres.T).argmax(1)
        new = np.stack([(emb[labels == k] * weight[labels == k, None]).sum(0) if (labels == k).any()
                        else centres[k] for k in (0, 1)])
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        if np.allclose(new, centres):
            break
        centres = new
    return labels, centres


def viterbi(score: np.ndarray, pause: np.ndarray) -> np.ndarray:
    """Best voice per piece for scores [P, 2], SWITCH_COST per change (a quarter after a pause)."""
    n = len(score)
    back = np.zeros((n, 2), np.int64)
    total = score[0].copy()
    for t in range(1, n):
        cost = SWITCH_COST * (0.25 if pause[t - 1] else 1.0)
        trans = total[:, None] - cost * (1 - np.eye(2))
        back[t] = trans.argmax(0)
        total = trans.max(0) + score[t]
    path = np.zeros(n, np.int64)
    path[-1] = total.argmax()
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def backchannels(segs: list[tuple[int, int]], path: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Give a short run, with the other voice on both sides within a second, to that listener
    unless it sounds BACKCHANNEL_BIAS more like the voice around it."""
    path = path.copy()
    short = BACKCHANNEL_S * FPS
    for i in range(1, len(segs) - 1):
        a, b = segs[i]
        alone = segs[i - 1][1] < a and b < segs[i + 1][0]
        near = a - segs[i - 1][1] <= FPS and segs[i + 1][0] - b <= FPS
        if alone and near and b - a <= short and path[i - 1] == path[i + 1]:
            around = path[i - 1]
            listener = 1 - around
            if score[i, around] - score[i, listener] < BACKCHANNEL_BIAS:
                path[i] = listener
    return path


def diarize(x: np.ndarray, speech: np.ndarray, speakers: int | None = None) -> Diarization:
    """Mono samples [N] and speech frames [T] -> Diarization; speakers forces 1 or 2 voices."""
    from duet.audio.ge2e import embed_pieces

    n = len(speech)
    masks = np.zeros((2, n), bool)
    segs = pieces(speech, int(PIECE_S * FPS))
    if speakers == 1 or len(segs) < 2:
        masks[0] = speech
        return Diarization(masks, 1, 1.0, forced=speakers == 1)
    emb = embed_pieces(x, segs)
    weight = np.array([b - a for a, b in segs], np.float64)
    labels, centres = two_means(emb, weight)
    cos = float(centres[0] @ centres[1])
    if speakers != 2 and (cos > SAME_VOICE_COS or min((labels == k).sum() for k in (0, 1)) == 0):
        masks[0] = speech
        return Diarization(masks, 1, cos)
    score = emb @ centres.T
    pause = np.array([segs[i][1] < segs[i + 1][0] for i in range(len(segs) - 1)])
    path = backchannels(segs, viterbi(score, pause), score)
    unsure = []
    for (a, b), s in zip(segs, score):
        if abs(s[0] - s[1]) < UNSURE_MARGIN and b - a >= FPS // 2:
            if unsure and a - unsure[-1][1] <= FPS:
                unsure[-1][1] = b
            else:
                unsure.append([a, b])
    for (a, b), k in zip(segs, path):
        masks[k, a:b] = True
    spans = [(a / FPS, b / FPS) for a, b in unsure if b - a >= FPS]
    return Diarization(masks, 2, cos, forced=speakers == 2, uncertain=spans)
