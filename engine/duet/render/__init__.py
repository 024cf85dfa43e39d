"""Photoreal path: Gaussians bound to the head mesh's triangles, rasterized per frame."""
