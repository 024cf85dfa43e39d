"""Every number in the results table, each defined exactly once (pure numpy).

Time: frame k of a motion at ``fps`` is time k / fps (the corpus's convention); a phone
(start_s, end_s, phone) covers the frames whose time lies in [start_s, end_s). Roles come from
speaking masks: a person is the speaker on frames where their mask is >= 0.5, the listener otherwise.
Functions that pool across clips return counts (hits, total) or per-clip values; the runner
pools them (duet.eval.runner). Definitions follow CodeTalker/FaceFormer (vertex metrics), DualTalk's
public metric code (FD, P-FD, SID, variance: a Gaussian or a k-means codebook fitted per sequence)
and talking-together section 3.3 (MSE by region and role); see docs/eval.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from duet.speech import phonemes
from duet.speech.phonemes import phone_frames
from duet.errors import DuetError
from duet.frames import rotmat

CLOSURE_FRACTION = 0.25   # a bilabial is closed when the lip gap drops below this share of the p95 opening
OPEN_FRACTION = 0.5       # an open vowel is open when the lip gap reaches this share of the p95 opening
EYE_CONTACT_DEG = 12.0    # looking at the partner: gaze within this angle of the partner's eye midpoint
SID_CLUSTERS = 40
MAX_LAG_S = 0.4           # lip-gap vs openness correlation searched over +-0.4 s of latency
REGIONS = ("lip", "eye", "expression", "rotation", "translation")
ROLES = ("all", "speaker", "listener")
FD_GROUPS = ("expression", "jaw", "pose")


class Count(NamedTuple):
    """hits out of total, so rates pool across clips and people before dividing."""

    hits: int
    total: int

    def __add__(self, other):  # type: ignore[override]
        return Count(self.hits + other.hits, self.total + other.total)

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else float("nan")


# ---------------------------------------------------------------- timelines


def same_timeline(pred, truth, slack: int = 2) -> int:
    """Frames two DyadicMotions share: their fps must agree and their lengths differ by <= ``slack``.

    A prediction at another frame rate is an error, not something to trim: every timing metric
    would silently shift.
    """
    if abs(pred.fps - truth.fps) > 1e-6:
        raise DuetError(f"frame rates differ: prediction {pred.fps:g} fps, ground truth {truth.fps:g} fps")
    if abs(pred.n_frames - truth.n_frames) > slack:
        raise DuetError(f"lengths differ: prediction {pred.n_frames} frames, ground truth {truth.n_frames}")
    return min(pred.n_frames, truth.n_frames)


def openness_track(phones, fps: float, n_frames: int) -> np.ndarray:
    """[T] mouth-openness target of the phone sounding at each frame (0 where nobody's phone is)."""
    target = np.zeros(n_frames)
    for phone, idx in phone_frames(phones, fps, n_frames):
        target[idx] = phonemes.openness(phone)
    return target


def speech_frames(phones, fps: float, n_frames: int) -> np.ndarray:
    """[T] bool: frames inside a non-silence phone."""
    on = np.zeros(n_frames, bool)
    for phone, idx in phone_frames(phones, fps, n_frames):
        if phone != "sil":
            on[idx] = True
    return on


# ---------------------------------------------------------------- vertices


def lip_vertex_error(pred: np.ndarray, truth: np.ndarray, lip: np.ndarray) -> float:
    """Lip vertex error (FaceFormer/CodeTalker): for each frame the largest squared L2 distance
    between predicted and true lip vertices, averaged over frames. Units: squared metres.

    ``pred``, ``truth`` [T,V,3] vertices in the head's own frame; ``lip`` indices of the lip region.
    """
    d = np.sum((pred[:, lip] - truth[:, lip]) ** 2, axis=-1)  # [T, L]
    return float(np.mean(np.max(d, axis=1)))


def upper_face_dynamics_deviation(pred: np.ndarray, truth: np.ndarray, template: np.ndarray,
                                  upper: np.ndarray) -> float:
    """Upper-face dynamics deviation (CodeTalker's FDD): for each upper-face vertex, the standard
    deviation over time of its squared displacement from the neutral ``template``, truth minus
    prediction, averaged over the vertices. Positive: the prediction's upper face moves less than
    the truth's; negative: more. Units: squared metres.
    """
    def dynamics(v):
        return np.std(np.sum((v[:, upper] - template[upper]) ** 2, axis=-1), axis=0)  # [U]

    return float(np.mean(dynamics(truth) - dynamics(pred)))


def lip_gap(vertices: np.ndarray, upper_mid: np.ndarray, lower_mid: np.ndarray) -> np.ndarray:
    """[T] mouth opening: height (+Y of the head frame) of the upper lip's inner-edge midpoint
    above the lower lip's. Zero when the lips touch, negative if they pass each other."""
    return vertices[:, upper_mid, 1].mean(-1) - vertices[:, lower_mid, 1].mean(-1)


# ---------------------------------------------------------------- lip sync from phone timings


def _reference_opening(gap: np.ndarray, phones, fps: float) -> float:
    """The person's 95th-percentile lip gap over their speech frames (all frames if they never speak)."""
    on = speech_frames(phones, fps, len(gap))
    return float(np.percentile(gap[on] if on.any() else gap, 95))


def bilabial_closure_rate(gap: np.ndarray, phones, fps: float) -> Count:
    """Bilabial closures: of the person's m/b/p phones, how many reach a lip gap below
    CLOSURE_FRACTION x their 95th-percentile speech opening on at least one of the phone's frames."""
    ref = _reference_opening(gap, phones, fps)
    hits = total = 0
    for phone, idx in phone_frames(phones, fps, len(gap)):
        if phone in phonemes.BILABIAL:
            total += 1
            hits += int(gap[idx].min() < CLOSURE_FRACTION * ref)
    return Count(hits, total)


def open_vowel_rate(gap: np.ndarray, phones, fps: float, vowels=phonemes.OPEN_VOWELS) -> Count:
    """Open vowels opened: of the person's open-vowel phones (aa, ae, ah, ao, aw, ay), how many
    reach a lip gap of at least OPEN_FRACTION x their 95th-percentile speech opening.
    ``vowels`` narrows the phones counted (the reference opening still comes from all speech)."""
    ref = _reference_opening(gap, phones, fps)
    hits = total = 0
    for phone, idx in phone_frames(phones, fps, len(gap)):
        if phone in vowels:
            total += 1
            hits += int(ref > 0 and gap[idx].max() >= OPEN_FRACTION * ref)
    return Count(hits, total)


def lagged_correlation(gap: np.ndarray, target: np.ndarray, max_lag: int) -> np.ndarray:
    """[2*max_lag+1] Pearson r between target[k] and gap[k + lag] for lag = -max_lag..max_lag.

    A positive best lag means the mouth moves after the sound (late); nan where either side is flat.
    """
    n = len(gap)
    out = np.full(2 * max_lag + 1, np.nan)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        a = target[max(0, -lag): n - max(0, lag)]
        b = gap[max(0, lag): n - max(0, -lag)]
        if len(a) > 2 and a.std() > 0 and b.std() > 0:
            out[i] = np.corrcoef(a, b)[0, 1]
    return out


def openness_correlation(gap: np.ndarray, phones, fps: float, max_lag_s: float = MAX_LAG_S) -> np.ndarray:
    """Lip gap vs phone-openness target (duet.speech.phonemes), as lagged_correlation over
    +-``max_lag_s``; the curves pool across clips by averaging, then best r and its lag are read off."""
    target = openness_track(phones, fps, len(gap))
    return lagged_correlation(gap, target, int(round(max_lag_s * fps)))


def best_lag(curve: np.ndarray, fps: float) -> tuple[float, float]:
    """(best r, its lag in milliseconds) of a lagged-correlation curve centred on lag 0."""
    if np.all(np.isnan(curve)):
        return float("nan"), float("nan")
    i = int(np.nanargmax(curve))
    return float(curve[i]), 1000.0 * (i - (len(curve) - 1) // 2) / fps


def listener_mouth_leakage(gaps: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                           min_frames: int = 10) -> float:
    """How much a listener's mouth moves with the partner's speech: on frames where exactly one
    person speaks, std of the listener's lip gap / std of the speaker's lip gap, averaged over the
    two directions (A speaking to B, B to A) that have at least ``min_frames`` such frames.
    0 for a still listener; about 1 when the listener lip-syncs the partner.
    """
    ratios = []
    for p, q in (("A", "B"), ("B", "A")):
        alone = (masks[p] >= 0.5) & (masks[q] < 0.5)  # p speaks, q listens
        if alone.sum() < min_frames:
            continue
        speaker = gaps[p][alone].std()
        if speaker > 0:
            ratios.append(gaps[q][alone].std() / speaker)
    return float(np.mean(ratios)) if ratios else float("nan")


# ---------------------------------------------------------------- parameters


def region_values(person, expr_names) -> dict[str, np.ndarray]:
    """[T, D] parameters of each region: lip = jaw*/mouth* expression channels and the jaw joint;
    eye = both eye joints; expression = all channels; rotation = global and neck joints as
    continuous 6-D rotations (rotation_6d); translation = transl in centimetres."""
    lip_channels = [i for i, n in enumerate(expr_names) if n.lower().startswith(("jaw", "mouth"))]
    return {
        "lip": np.concatenate([person.expr[:, lip_channels], person.poses["jaw"]], 1),
        "eye": np.concatenate([person.poses["eye_L"], person.poses["eye_R"]], 1),
        "expression": person.expr,
        "rotation": np.concatenate([rotation_6d(person.poses["global"]), rotation_6d(person.poses["neck"])], 1),
        "translation": 100.0 * person.transl,
    }


def reorder(expr: np.ndarray, names, target) -> np.ndarray:
    """[T, len(target)] channels of ``expr`` (named ``names``) re-ordered to ``target`` by canonical
    name (duet.arkit.canonical); channels it lacks are 0."""
    from duet.arkit import canonical

    have = {canonical(n): i for i, n in enumerate(names)}
    return np.stack([expr[:, have[canonical(n)]] if canonical(n) in have else np.zeros(len(expr))
                     for n in target], 1)


def expr_like(motion, names) -> dict[str, np.ndarray]:
    """Each person's expression re-ordered to ``names``, so methods on different channel orders
    compare channel for channel."""
    return {p: reorder(motion.person(p).expr, motion.expr_names, names) for p in ("A", "B")}


def parameter_mse(pred, truth) -> dict[str, dict[str, float]]:
    """Mean squared error per region (REGIONS) and role (ROLES) over both people: the mean over
    frames of that role and the region's dimensions of (prediction - truth)^2. Roles come from
    the truth's speaking masks, each person's own. nan for a role with no frames."""
    n = same_timeline(pred, truth)
    pred_expr = expr_like(pred, truth.expr_names)
    sq = {r: {role: [] for role in ROLES} for r in REGIONS}
    for p in ("A", "B"):
        t_person = truth.person(p)
        p_person = _trimmed(pred.person(p), n, pred_expr[p])
        t_vals = region_values(_trimmed(t_person, n), truth.expr_names)
        p_vals = region_values(p_person, truth.expr_names)
        speaking = t_person.speaking[:n] >= 0.5
        for r in REGIONS:
            err = np.mean((p_vals[r] - t_vals[r]) ** 2, axis=1)  # [T]
            sq[r]["all"].append(err)
            sq[r]["speaker"].append(err[speaking])
            sq[r]["listener"].append(err[~speaking])
    return {r: {role: _mean(np.concatenate(v)) for role, v in roles.items()} for r, roles in sq.items()}


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else float("nan")


def _trimmed(person, n: int, expr: np.ndarray | None = None):
    from duet.motion import PersonMotion

    return PersonMotion(expr=(person.expr if expr is None else expr)[:n],
                        poses={j: v[:n] for j, v in person.poses.items()},
                        transl=person.transl[:n], speaking=person.speaking[:n], betas=person.betas)


# ---------------------------------------------------------------- distributions


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``x`` [N,D] and ``y`` [M,D]:
    |mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2)), sample covariances (N-1 denominator)."""
    mx, my = x.mean(0), y.mean(0)
    sx, sy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    d = np.sum((mx - my) ** 2) + np.trace(sx) + np.trace(sy) - 2 * _trace_sqrt_product(sx, sy)
    return float(max(d, 0.0))  # rounding can dip below the true minimum 0


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr((A B)^(1/2)) for symmetric PSD A, B, as tr((A^(1/2) B A^(1/2))^(1/2)), which is symmetric."""
    w, v = np.linalg.eigh(a)
    ah = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = ah @ b @ ah
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None))))


def fd_features(person, expr: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """[T, D] features per FD group: expression channels, jaw joint, head pose (global + neck as
    continuous 6-D rotations)."""
    return {"expression": person.expr if expr is None else expr, "jaw": person.poses["jaw"],
            "pose": np.concatenate([rotation_6d(person.poses["global"]), rotation_6d(person.poses["neck"])], 1)}


def rotation_6d(aa: np.ndarray) -> np.ndarray:
    """Axis-angle [T,3] -> the rotated +Y and +Z axes [T,6]: continuous, unlike axis-angle, whose
    (0, pi, 0) and (0, -pi, 0) are one rotation (a head turned to face -Z) but far apart as numbers."""
    return rotmat(aa)[..., :, 1:].reshape(len(aa), 6)


def fd(pred, truth) -> dict[str, float]:
    """FD per group (FD_GROUPS): frechet_distance between the prediction's and the truth's frames of
    one person in one sequence, averaged over A and B."""
    n = same_timeline(pred, truth)
    pred_expr = expr_like(pred, truth.expr_names)
    out = {}
    for g in FD_GROUPS:
        vals = [frechet_distance(fd_features(pred.person(p), pred_expr[p])[g][:n],
                                 fd_features(truth.person(p))[g][:n]) for p in ("A", "B")]
        out[g] = float(np.mean(vals))
    return out


def paired_fd(pred, truth) -> dict[str, float]:
    """P-FD per group: frechet_distance between the frames of [A's features, B's features]
    concatenated, prediction vs truth (talking-together 3.3: both people's features per frame
    joined, so timing between the two counts, not just each one's repertoire)."""
    n = same_timeline(pred, truth)
    pred_expr = expr_like(pred, truth.expr_names)
    out = {}
    for g in FD_GROUPS:
        x = np.concatenate([fd_features(pred.person(p), pred_expr[p])[g][:n] for p in ("A", "B")], 1)
        y = np.concatenate([fd_features(truth.person(p))[g][:n] for p in ("A", "B")], 1)
        out[g] = frechet_distance(x, y)
    return out


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """[k', D] centres by Lloyd's algorithm from a k-means++ start (k' = min(k, distinct rows))."""
    rng = np.random.default_rng(seed)
    distinct = np.unique(x, axis=0)
    k = min(k, len(distinct))
    centres = [distinct[rng.integers(len(distinct))]]
    for _ in range(1, k):
        d2 = np.min(((distinct[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(distinct[rng.choice(len(distinct), p=d2 / d2.sum())])
    centres = np.array(centres, np.float64)
    for _ in range(iterations):
        labels = assign(x, centres)
        moved = np.array([x[labels == c].mean(0) if np.any(labels == c) else centres[c] for c in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)


def sid(pred: np.ndarray, truth: np.ndarray, k: int = SID_CLUSTERS) -> float:
    """SID diversity (DualTalk/L2L): fit k-means (k = 40) to the truth's frames [N,D], assign each
    predicted frame [M,D] to its nearest centre, and return the entropy in bits of the cluster
    histogram. 0 for a frozen face; at most log2(k)."""
    if len(pred) == 0 or len(truth) == 0:
        return float("nan")
    labels = assign(pred, kmeans(truth, k))
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def sid_by_role(pred, truth, k: int = SID_CLUSTERS) -> dict[str, float]:
    """SID of expression frames per role: the truth's and the prediction's frames where each person
    speaks (resp. listens), pooled over A and B; roles from the truth's masks."""
    n = same_timeline(pred, truth)
    pred_expr = expr_like(pred, truth.expr_names)
    out = {}
    for role in ("speaker", "listener"):
        t, q = [], []
        for p in ("A", "B"):
            on = truth.person(p).speaking[:n] >= 0.5
            on = on if role == "speaker" else ~on
            t.append(truth.person(p).expr[:n][on])
            q.append(pred_expr[p][:n][on])
        out[role] = sid(np.concatenate(q), np.concatenate(t), k)
    return out


def variance(expr: np.ndarray) -> float:
    """Motion variance: the mean over channels of each channel's variance over time."""
    return float(np.mean(np.var(expr, axis=0)))


# ---------------------------------------------------------------- gaze


def gaze_rays(person) -> tuple[np.ndarray, np.ndarray]:
    """Eye midpoint [T,3] and unit gaze direction [T,3] (the two eyes' directions averaged)."""
    from duet.rigs import kinematics

    centres, dirs = kinematics.gaze(person.poses, person.transl)
    d = dirs.sum(-2)
    return centres.mean(-2), d / np.linalg.norm(d, axis=-1, keepdims=True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1.0, 1.0)))


def partner_gaze_angle(motion) -> dict[str, np.ndarray]:
    """[T] per person: degrees between their gaze and the line from their eyes to the partner's."""
    rays = {p: gaze_rays(motion.person(p)) for p in ("A", "B")}
    return {p: _angle_deg(rays[p][1], rays[q][0] - rays[p][0]) for p, q in (("A", "B"), ("B", "A"))}


SYNC_MAX_LAG = 15  # frames: 0.6 s at 25 fps


def head_synchrony(motion, max_lag: int = SYNC_MAX_LAG) -> tuple[float, float]:
    """Interpersonal head synchrony (pitch, yaw): the best Pearson correlation between A's and B's
    neck rotation about that axis over lags of up to ``max_lag`` frames either way (0 for a still head).
    Two heads moving on their own score near 0; one mirroring the other near 1."""
    a, b = motion.A.poses["neck"], motion.B.poses["neck"]
    out = []
    for axis in (0, 1):
        best = 0.0
        for lag in range(-max_lag, max_lag + 1):
            x, y = (a[lag:, axis], b[:len(b) - lag, axis]) if lag >= 0 else (a[:lag, axis], b[-lag:, axis])
            if x.std() > 1e-6 and y.std() > 1e-6:
                best = max(best, float(np.corrcoef(x, y)[0, 1]))
        out.append(best)
    return out[0], out[1]


def eye_contact(motion, masks: dict[str, np.ndarray]) -> dict[str, Count]:
    """Frames on which a person looks at the partner (gaze within EYE_CONTACT_DEG of the partner's
    eye midpoint), counted while listening (own mask < 0.5, partner's >= 0.5) and while speaking
    (own mask >= 0.5), pooled over A and B; ``masks`` give the roles (normally the truth's)."""
    angles = partner_gaze_angle(motion)
    out = {"listening": Count(0, 0), "speaking": Count(0, 0)}
    for p, q in (("A", "B"), ("B", "A")):
        n = min(len(angles[p]), len(masks[p]))
        look = angles[p][:n] < EYE_CONTACT_DEG
        me, other = masks[p][:n] >= 0.5, masks[q][:n] >= 0.5
        listening = ~me & other
        out["listening"] += Count(int(look[listening].sum()), int(listening.sum()))
        out["speaking"] += Count(int(look[me].sum()), int(me.sum()))
    return out


def gaze_angle_error(pred, truth) -> float:
    """Mean over frames and both people of the angle (degrees) between predicted and true gaze."""
    n = same_timeline(pred, truth)
    errs = [_angle_deg(gaze_rays(pred.person(p))[1][:n], gaze_rays(truth.person(p))[1][:n]) for p in ("A", "B")]
    return float(np.mean(np.concatenate(errs)))
