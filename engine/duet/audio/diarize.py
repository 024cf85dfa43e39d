"""Who speaks when in a mono mix, from GE2E voice embeddings of real speech (numpy only).

Speech runs (WebRTC voice activity) are covered by windows of PIECE_S every HOP_S; each window
gets a GE2E embedding (`duet.audio.ge2e`). Two-means clustering on the unit sphere (started from
the two least alike long windows) gives two voices; they are one voice unless two centres fit the
windows SPLIT_GAIN better than one, with the two groups counted equally (so a person who says little
is not outweighed), both as grouped on the vectors alone and as grouped again with each window's
pitch beside its vector (that grouping gives the two centres); each voice needs MIN_VOICE_S of
speech. Each speech frame is scored against both voices by the windows over it, and a two-state
Viterbi path over the frames, with a cost for changing voice that is smaller across a pause, names
each frame. A short run alone in a pause inside the other person's turn (a backchannel such as
"mm-hm") goes to the listener unless it clearly sounds like the speaker. The result says how sure
it is: the cosine between the two voices, and the stretches whose pieces sit nearly halfway between
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from duet.constants import FPS

PIECE_S = 1.0  # embedding window
HOP_S = 1.0  # windows overlap by half: each frame is scored by the two windows over it
VOICEPRINT_SHARE = 0.3  # weight of the synthetic-voice prints beside GE2E in each window's vector
SPLIT_GAIN = 0.05  # two voices must fit the windows this much better than one (cosine, groups equal; chosen on dev)
MIN_VOICE_S = 0.5  # speech each voice needs: a stray short window is not a second person (chosen on dev:
# 0.5 keeps a listener who only says "mm-hm" twice, with no monologue of the real dev set split)
CONFIDENT_GAIN = 0.035  # above this the two voices are told apart with confidence
SWITCH_COST = 4.0  # summed per-frame cosine a change of voice costs inside a run (a quarter across a pause)
REFINE_ROUNDS = 3  # frame-level refinement on the clip's own timbre (0: off)
TIMBRE_SCALE = 0.3  # frames overlap in content: their log-likelihoods are scaled down before summing
GE2E_WEIGHT = 10.0  # how much the GE2E score counts beside the timbre log-likelihood in refinement
TIMBRE_SWITCH = 12.0  # cost of a change of voice in refinement (a quarter across a pause)
UNSURE_MARGIN = 0.03  # a piece this close to halfway between the voices is uncertain
BACKCHANNEL_S = 0.6  # a run this short, alone in the other person's turn, may be the listener's "mm-hm"
BACKCHANNEL_BIAS = 0.05  # how much more it must sound like the speaker to stay the speaker's
PITCH_SHARE = 0.3  # weight of each piece's pitch beside its voice vector in the second grouping of the
PITCH_OCTAVES = 0.5  # pieces into two voices; pitch counted in units of this many octaves


@dataclass
class Diarization:
    masks: np.ndarray  # [2, T] bool, rows in clustering order
    voices: int  # 1 or 2 as decided (or forced)
    gain: float  # how much better two voices fit the windows than one (`split_gain`; the lesser of the two
    # groupings, on the vectors alone and with pitch)
    forced: bool = False
    uncertain: list = field(default_factory=list)  # [(start_s, end_s)] stretches of unsure pieces

    def verdict(self) -> str:
        """One line for the user: how sure the front end is about who speaks."""
        if self.voices == 1:
            return "one voice (forced)" if self.forced else "one voice heard"
        if self.uncertain:
            a, b = max(self.uncertain, key=lambda s: s[1] - s[0])
            return f"two voices, uncertain between {a:.1f} s and {b:.1f} s"
        if self.forced or self.gain >= CONFIDENT_GAIN:
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


def windows(speech: np.ndarray, length: int, hop: int) -> list[tuple[int, int]]:
    """Windows [start, end) of `length` frames every `hop` frames over each speech run; a run
    shorter than a window is one window, and the last window of a run ends with the run."""
    from duet.audio.masks import _runs

    out = []
    for s, e in _runs(speech):
        if e - s <= length:
            out.append((int(s), int(e)))
            continue
        starts = list(range(int(s), int(e) - length + 1, hop))
        if starts[-1] + length < e:
            starts.append(int(e) - length)
        out += [(a, a + length) for a in starts]
    return out


def voice_vectors(x: np.ndarray, wins: list[tuple[int, int]]) -> np.ndarray:
    """One unit vector per window: its GE2E embedding (real voices) beside the mean of its frames'
    voice prints (`duet.audio.voiceprint`, learned on the synthetic voices), weighted by
    VOICEPRINT_SHARE, so that their cosine is the weighted mean of the two cosines."""
    from duet.audio.ge2e import embed_pieces
    from duet.audio.voiceprint import embed

    g = embed_pieces(x, wins)
    frames = embed(x)
    v = np.stack([frames[a:b].mean(0) for a, b in wins])
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    return np.concatenate([g * np.sqrt(1 - VOICEPRINT_SHARE), v * np.sqrt(VOICEPRINT_SHARE)], 1)


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


def split_gain(emb: np.ndarray, weight: np.ndarray, labels: np.ndarray) -> float:
    """How much better each window's own group centre fits it than one centre for all (mean cosine),
    with each group's windows weighted by length and the two groups counted equally, so the gain
    does not shrink with the quieter person's share of the speech; 0 when a group's windows
    (weighted by frames) hold under MIN_VOICE_S of speech."""
    frames = np.bincount(labels, weights=weight, minlength=2)
    if frames.min() < MIN_VOICE_S * FPS:
        return 0.0
    w = weight / frames[labels]
    centres = np.stack([(emb[labels == k] * w[labels == k, None]).sum(0) for k in (0, 1)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    one = (emb * w[:, None]).sum(0)
    one /= np.linalg.norm(one)
    return float(np.average((emb * centres[labels]).sum(1) - emb @ one, weights=w))


def viterbi(score: np.ndarray, pause: np.ndarray, switch: float | None = None) -> np.ndarray:
    """Best voice per frame for scores [P, 2], `switch` (SWITCH_COST) per change (a quarter after a pause)."""
    switch = SWITCH_COST if switch is None else switch
    n = len(score)
    back = np.zeros((n, 2), np.int64)
    total = score[0].copy()
    for t in range(1, n):
        cost = switch * (0.25 if pause[t - 1] else 1.0)
        trans = total[:, None] - cost * (1 - np.eye(2))
        back[t] = trans.argmax(0)
        total = trans.max(0) + score[t]
    path = np.zeros(n, np.int64)
    path[-1] = total.argmax()
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def timbre(x: np.ndarray, n: int) -> np.ndarray:
    """[n, 15] per-frame timbre and pitch of the clip: 13 cepstra of the log-mel (without c0, so level
    does not count), log pitch where voiced, voicing."""
    from scipy.fft import dct

    from duet.audio import features as F

    y = np.asarray(x, np.float32) * np.float32(10 ** (F.loudness_gain_db(x) / 20))
    # in the chunks the model's features and the voice prints take, so their log-mel and pitch are reused
    chunks = [(a, min(n, a + F.CHUNK_FRAMES)) for a in range(0, n, F.CHUNK_FRAMES)]
    mel = np.concatenate([F.log_mel(y, a, b) for a, b in chunks]).reshape(n, 4, F.N_MELS).mean(1)
    cep = dct(mel, type=2, norm="ortho", axis=1)[:, 1:14]
    f0, voicing = (np.concatenate(v) for v in zip(*(F.pitch(y, a, b) for a, b in chunks)))
    lf0 = np.where(f0 > 0, np.log2(np.maximum(f0, 1.0) / 150.0), 0.0)
    return np.column_stack([cep, lf0, voicing]).astype(np.float64)


def _gauss_loglik(fit: np.ndarray, data: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Log-likelihood of data under one full-covariance Gaussian fitted to `fit` (diagonal floor)."""
    mu = fit.mean(0)
    cov = (np.cov(fit, rowvar=False) if len(fit) > 1 else np.zeros((fit.shape[1],) * 2)) + np.diag(floor)
    _, logdet = np.linalg.slogdet(cov)
    d = data - mu
    return -0.5 * (np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) + logdet)


def refine(feat: np.ndarray, score: np.ndarray, path: np.ndarray, pause: np.ndarray) -> np.ndarray:
    """Frame by frame: each voice's own timbre (a Gaussian fitted to its frames) beside the GE2E
    score, through the Viterbi path again; up to REFINE_ROUNDS times."""
    floor = feat.var(0) * 0.05 + 1e-3
    for _ in range(int(REFINE_ROUNDS)):
        if min((path == k).sum() for k in (0, 1)) < 10:
            break
        ll = np.stack([_gauss_loglik(feat[path == k], feat, floor) for k in (0, 1)], 1)
        new = viterbi(TIMBRE_SCALE * ll + GE2E_WEIGHT * score, pause, TIMBRE_SWITCH)
        if np.array_equal(new, path):
            break
        path = new
    return path


def backchannels(segs: list[tuple[int, int]], path: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Runs [start, end), their voices and scores [R, 2] -> voices with each short run that has
    the other voice on both sides within a second given to that listener, unless it sounds
    BACKCHANNEL_BIAS more like the voice around it."""
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


def piece_pitch(feat: np.ndarray, wins: list[tuple[int, int]]) -> np.ndarray:
    """[P] each piece's mean log2 pitch over its voiced frames (`timbre` columns 13-14), less the
    median over the pieces, in units of PITCH_OCTAVES; a piece with under two voiced frames gets 0."""
    voiced = feat[:, 14] > 0.3
    out = np.full(len(wins), np.nan)
    for i, (a, b) in enumerate(wins):
        v = voiced[a:b]
        if v.sum() >= 2:
            out[i] = feat[a:b, 13][v].mean()
    if np.isnan(out).all():
        return np.zeros(len(wins))
    out = (out - np.nanmedian(out)) / PITCH_OCTAVES
    return np.nan_to_num(out, nan=0.0)


def pitch_grouping(emb: np.ndarray, weight: np.ndarray, wins: list[tuple[int, int]],
                   feat: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The pieces grouped into two voices with their pitch beside their voice vectors (PITCH_SHARE):
    the two centres of the voice vectors under that grouping, and how much better they fit the
    vectors than one centre (`split_gain`, as for the grouping on the vectors alone); None when one
    group is empty. Pitch is what most often tells two real people apart when their GE2E vectors do
    not (a line or a syllable of a low voice put with the high one). One voice split in two by its
    vectors (a shouted line against calm ones) is grouped differently by its pitch, and that grouping
    fits the vectors little better than one centre."""
    p = piece_pitch(feat, wins)[:, None]
    both = np.concatenate([emb * np.sqrt(1 - PITCH_SHARE), p * np.sqrt(PITCH_SHARE)], 1)
    both /= np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-9)
    labels, _ = two_means(both, weight)
    if min((labels == k).sum() for k in (0, 1)) == 0:
        return None
    centres = np.stack([(emb[labels == k] * weight[labels == k, None]).sum(0) for k in (0, 1)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return centres, split_gain(emb, weight, labels)


def diarize(x: np.ndarray, speech: np.ndarray, speakers: int | None = None) -> Diarization:
    """Mono samples [N] and speech frames [T] -> Diarization; speakers forces 1 or 2 voices."""
    from duet.audio.masks import _runs

    n = len(speech)
    masks = np.zeros((2, n), bool)
    wins = windows(speech, int(PIECE_S * FPS), int(HOP_S * FPS)) if HOP_S < PIECE_S else \
        pieces(speech, int(PIECE_S * FPS))
    if speakers == 1 or len(wins) < 2:
        masks[0] = speech
        return Diarization(masks, 1, 0.0, forced=speakers == 1)
    emb = voice_vectors(x, wins)
    weight = np.array([b - a for a, b in wins], np.float64)
    labels, centres = two_means(emb, weight)
    gain = split_gain(emb, weight, labels)
    feat = timbre(x, n) if REFINE_ROUNDS or PITCH_SHARE else None
    if PITCH_SHARE and min((labels == k).sum() for k in (0, 1)) > 0:
        grouped = pitch_grouping(emb, weight, wins, feat)
        if grouped is not None:  # two voices only if both groupings fit the vectors SPLIT_GAIN better
            centres, gain = grouped[0], min(gain, grouped[1])
    if speakers != 2 and gain <= SPLIT_GAIN:
        masks[0] = speech
        return Diarization(masks, 1, gain)
    # each speech frame: the mean score of the windows over it
    total = np.zeros((n, 2))
    count = np.zeros(n)
    for (a, b), sc in zip(wins, emb @ centres.T):
        total[a:b] += sc
        count[a:b] += 1
    idx = np.flatnonzero(count > 0)
    score = total[idx] / count[idx, None]
    path = viterbi(score, np.diff(idx) > 1)
    if REFINE_ROUNDS:
        path = refine(feat[idx], score, path, np.diff(idx) > 1)
    state = np.full(n, -1)
    state[idx] = path
    runs = [(int(a), int(b)) for a, b in _runs(count > 0)]
    run_score = np.array([score[np.searchsorted(idx, a): np.searchsorted(idx, b)].mean(0) for a, b in runs])
    run_state = np.array([np.bincount(state[a:b], minlength=2).argmax() for a, b in runs])
    for i, k in enumerate(backchannels(runs, run_state, run_score)):
        if k != run_state[i]:
            a, b = runs[i]
            state[a:b] = k
    unsure = []
    for t in idx[np.abs(score[:, 0] - score[:, 1]) < UNSURE_MARGIN]:
        if unsure and t - unsure[-1][1] <= FPS:
            unsure[-1][1] = t + 1
        else:
            unsure.append([t, t + 1])
    masks[0], masks[1] = state == 0, state == 1
    spans = [(a / FPS, b / FPS) for a, b in unsure if b - a >= FPS]
    return Diarization(masks, 2, gain, forced=speakers == 2, uncertain=spans)
