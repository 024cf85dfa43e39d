"""The dual-stream diffusion model (talking-together sec. 3.2-3.5): config, network, schedule,
packing, windows and sampling. ``generate`` is the inference entry; torch loads only when used."""


def generate(*args, **kwargs):
    """See duet.model.infer.generate: tracks [C, N] at 16 kHz -> DyadicMotion."""
    from duet.model.infer import generate as _generate

    return _generate(*args, **kwargs)
