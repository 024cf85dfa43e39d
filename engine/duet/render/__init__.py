"""Photoreal path: Gaussians bound to the head mesh's triangles, rasterized per frame."""


def render_motion(motion, out_dir, size: int = 256, video=None, audio=None, **options) -> dict:
    """Frames (and optionally an MP4 with ``audio``) of both avatars for a DyadicMotion; see scene.render_motion."""
    from duet.render.scene import render_motion as render

    return render(motion, out_dir, size, video=video, audio=audio, **options)
