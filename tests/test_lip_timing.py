"""Lips on time: on every clip of the corpus's test split the generated lip gap follows the phones best
at lag 0 or -1 frame, never +1 (late), against the corpus's labels and against an independent
pocketsphinx forced alignment of the audio; the ground truth the model learns from is on time against
that aligner too; and the baked .blend keys frame i where its sound plays time i / 25 s."""

from __future__ import annotations

import numpy as np
import pytest

from tests.model_support import one_torch_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow  # 21 clips generated and force-aligned: about a minute

CLIPS = 21  # the first 21 test clips of `duet data synth --seed 0`, as benchmarks/lip_lag.py scores


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """Per clip: its corpus clip, the shipped model's motion on the mono mix and both lip gaps."""
    from duet.eval import timing as T
    from duet.eval.baselines import first_speaker
    from duet.eval.runner import face
    from duet.model.infer import generate

    corpus = T.make_test_split(tmp_path_factory.mktemp("test_split"), clips=CLIPS)
    faces = {p: face(p) for p in "AB"}
    out = []
    for cid in sorted(corpus.ids("test")):
        clip = corpus.load(cid)
        pred = generate(np.asarray(clip.mix, np.float32)[None], "mono", layout=clip.layout, seed=0,
                        first_speaker=first_speaker(clip))
        out.append({"clip": clip, "pred": pred,
                    "gap": {p: T.mouth_gap(pred, p, faces) for p in "AB"},
                    "truth": {p: T.mouth_gap(clip.motion, p, faces) for p in "AB"}})
    return out


@pytest.fixture(scope="module")
def aligned(timed):
    """Per clip and person: phones from pocketsphinx forced alignment of the person's own track."""
    from duet.eval import timing as T

    out = []
    for c in timed:
        clip = c["clip"]
        out.append({p: T.turn_phones(clip.tracks[i], [t for t in clip.turns if t.speaker == p])[0]
                    for i, p in enumerate("AB")})
    return out


def _clip_lag(gaps: dict, phones: dict) -> int:
    """Best lag of one clip, its two people's lag curves summed."""
    from duet.eval import timing as T

    curves = [np.nan_to_num(T.lag_curve(gaps[p], phones[p])) for p in "AB" if phones.get(p)]
    return T.best_lag(np.sum(curves, 0))


def test_the_lag_measure_sees_one_frame_of_lateness(timed):
    """The measure is not blind: the same lip gaps moved one frame later read +1 on every clip, one
    frame earlier -1."""
    for c in timed:
        phones = c["clip"].phonemes
        late = {p: np.concatenate([c["gap"][p][:1], c["gap"][p][:-1]]) for p in "AB"}
        early = {p: np.concatenate([c["gap"][p][1:], c["gap"][p][-1:]]) for p in "AB"}
        assert _clip_lag(late, phones) == _clip_lag(c["gap"], phones) + 1, c["clip"].id
        assert _clip_lag(early, phones) == _clip_lag(c["gap"], phones) - 1, c["clip"].id


def test_generated_lips_are_never_late_against_the_labels(timed):
    lags = {c["clip"].id: _clip_lag(c["gap"], c["clip"].phonemes) for c in timed}
    assert len(lags) == CLIPS
    assert all(v in (0, -1) for v in lags.values()), lags


def test_generated_lips_are_never_late_against_the_aligner(timed, aligned):
    lags = {c["clip"].id: _clip_lag(c["gap"], a) for c, a in zip(timed, aligned)}
    assert all(v in (0, -1) for v in lags.values()), lags


def test_the_ground_truth_is_on_time_against_the_aligner(timed, aligned):
    """The corpus animator's lips (the training target) are on time against the independent
    aligner, and the labels they are made from sit within 10 ms of it (median over tracks)."""
    from duet.eval import metrics as M
    from duet.eval import timing as T

    lags = {c["clip"].id: _clip_lag(c["truth"], a) for c, a in zip(timed, aligned)}
    assert all(v == 0 for v in lags.values()), lags
    offsets = []
    for c, a in zip(timed, aligned):
        for p in "AB":
            if a[p]:
                n = int(c["clip"].motion.duration * 200)
                lab = M.openness_track(c["clip"].phonemes[p], 200, n)
                offsets.append(5 * T.best_lag(M.lagged_correlation(lab, M.openness_track(a[p], 200, n), 16)))
    assert len(offsets) >= 2 * CLIPS - 4
    assert abs(np.median(offsets)) <= 10, offsets


def test_feature_frames_are_centred_half_a_frame_after_their_time():
    """Frame k's features describe the 40 ms starting at k / 25 s (centre +20 ms), in training as at
    inference; the model was trained on exactly this, so moving it needs a retrained model."""
    from duet.eval.timing import feature_centre_ms

    assert feature_centre_ms() == pytest.approx(20.0, abs=2.0)


@pytest.mark.blender
def test_the_baked_scene_sounds_each_frame_where_it_is_keyed(timed, tmp_path):
    """`duet bake` with the mix as its sound: the baked head's lip gap, read back from the .blend per
    scene frame and timed from the sound strip's start, has the same best lag as the motion's."""
    import importlib.util

    from duet.eval import timing as T
    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("lip_lag", ROOT / "benchmarks" / "lip_lag.py")
    lip_lag = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lip_lag)
    c = timed[0]
    got, offset = lip_lag.baked_gaps(c["pred"], np.asarray(c["clip"].mix, np.float32), tmp_path)
    assert offset == 0
    for p in "AB":
        n = min(len(got[p]), len(c["gap"][p]))
        assert np.corrcoef(got[p][:n], c["gap"][p][:n])[0, 1] > 0.99
    assert _clip_lag(got, c["clip"].phonemes) == _clip_lag(c["gap"], c["clip"].phonemes) == 0
    assert T.best_lag(T.lag_curve(got["A"], c["clip"].phonemes["A"])) in (0, -1)
