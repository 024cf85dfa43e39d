"""Run-time constants every stage agrees on: the audio rate, the motion frame rate, the default layout."""

SAMPLE_RATE = 16000  # Hz: every front end, synthesizer and feature works at this rate
# How the audio is given: one mixed voice track, one track per person, or a stereo file with a voice per channel.
INPUT_SHAPES = ("mono", "two-track", "stereo")
FPS = 25  # motion frames per second (DyadicMotion's native rate; the bake resamples to the scene)
# Heads (conversation frame, metres) when no scene prompt or layout is given: standing face to face.
DEFAULT_LAYOUT = {"A": (0.0, 1.6, -0.5), "B": (0.0, 1.6, 0.5)}
