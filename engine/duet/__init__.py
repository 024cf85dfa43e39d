"""Duet: co-located 3D facial animation for two people talking, from audio or a scene prompt."""

__version__ = "0.1.0"


def one_blas_thread() -> None:
    """Run numpy's BLAS on one thread, when numpy is not loaded yet (it reads the setting once).
    The commands that generate and the add-on's worker do: the threads of Duet's own numpy networks
    share the CPUs instead, a second BLAS thread only waited, and the Whisper encoder's products round
    differently with two (by up to 6e-6), so the add-on's take would differ from the command line's."""
    import os
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
