"""The offline layout predictor: the prompt's own words first, the nearest annotated examples for the rest.

``rules.read`` gives whatever the prompt states or implies (a distance with its unit, the setting's
spacing, the arrangement, each person's posture and build). What it leaves open: the arrangement is a
similarity-weighted vote of the nearest examples (``retrieval.py``), face to face unless they mostly
agree on another; the spacing face to face is their weighted median kept within the personal to
near-social zone, side by side and at a corner a fixed spacing; a height nobody mentions is a standing
adult's. On the annotated examples (each left out of its own retrieval) this beat copying the
neighbours' heights and spacings outright (docs/layout-results.md). A prompt whose words settle both
the arrangement and the spacing is answered without the encoder, or numpy.
"""

from __future__ import annotations

from duet.layout import MAX_APART, MAX_HEIGHT, MIN_APART, MIN_HEIGHT, Layout, from_params, rules

SPACING = {rules.SIDE: 0.6, rules.CORNER: 0.9}


def predict_offline(prompt: str, pool=None) -> Layout:
    """The default layout when no endpoint answers. ``pool`` (a mask over the examples) is for
    cross-validation: the prompt's own example is left out when measuring on the examples."""
    cues = rules.read(prompt)
    angle, apart = cues.angle, cues.apart
    if angle is None or (apart is None and angle == rules.FACE):
        from duet.layout.retrieval import from_neighbours

        angle, apart = from_neighbours(prompt, angle, apart, pool)
    if apart is None:
        apart = SPACING[angle]  # side by side and at a corner vary little: a fixed spacing beats the neighbours
    # A person the words say nothing about stands: the neighbours' heights belong to their own scenes.
    height_a = rules.STAND if cues.height_a is None else cues.height_a
    height_b = rules.STAND if cues.height_b is None else cues.height_b
    clip = lambda v, lo, hi: float(min(max(v, lo), hi))  # noqa: E731
    return from_params(clip(apart, MIN_APART, MAX_APART), float(angle), clip(height_a, MIN_HEIGHT, MAX_HEIGHT),
                       clip(height_b, MIN_HEIGHT, MAX_HEIGHT), source="offline")


