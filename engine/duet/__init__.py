"""Duet: co-located 3D facial animation for two people talking, from audio or a scene prompt."""

__version__ = "0.1.0"
