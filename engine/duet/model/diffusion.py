"""Cosine logSNR noise schedule, x0-prediction DDIM sampling and classifier-free guidance.

Continuous time t in [0, 1]: logSNR(t) = -2 log tan(a + t (b - a)), with a, b chosen so that
logSNR(0) = logsnr_max and logSNR(1) = logsnr_min exactly; alpha^2 = sigmoid(logSNR),
sigma^2 = sigmoid(-logSNR), x_t = alpha x0 + sigma eps.

The schedule takes numpy arrays (sampling) or torch tensors (training); sampling is numpy only, so
the torch network and the exported ONNX network (duet.model.exported) run the very same sampler.
"""

from __future__ import annotations

import math

import numpy as np


def logsnr(t, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Cosine logSNR schedule at time(s) t in [0, 1]: a number or numpy array gives float32 numpy, a
    torch tensor gives a tensor."""
    a = math.atan(math.exp(-0.5 * logsnr_max))
    b = math.atan(math.exp(-0.5 * logsnr_min))
    angle = a + t * (b - a)
    if isinstance(angle, float | np.ndarray | np.floating):
        return (-2.0 * np.log(np.tan(angle))).astype(np.float32)
    return -2.0 * angle.tan().log()


def alpha_sigma(lsnr):
    """(alpha, sigma) at logSNR ``lsnr`` (numpy or torch, as given)."""
    if isinstance(lsnr, float | np.ndarray | np.floating):
        lsnr = np.asarray(lsnr, np.float32)
        return np.sqrt(1 / (1 + np.exp(-lsnr))), np.sqrt(1 / (1 + np.exp(lsnr)))
    return lsnr.sigmoid().sqrt(), (-lsnr).sigmoid().sqrt()


def q_sample(x0, lsnr, noise):
    """Noise clean x0 [B, ..., D] to logSNR ``lsnr`` [B] (torch; training)."""
    alpha, sigma = alpha_sigma(lsnr)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    return alpha.view(shape) * x0 + sigma.view(shape) * noise


def guided(denoise, guidance):
    """Classifier-free guidance: x0 = x0(uncond) + w (x0(cond) - x0(uncond)); w = 1 is conditional.

    ``denoise(x_t, lsnr[B], drop[B] bool)`` returns predicted x0 (numpy) with the audio dropped
    where ``drop`` is set. Both branches run as one batch. ``guidance`` is a number or an array that
    broadcasts against x0 (e.g. one weight per person and frame).
    """
    def f(x_t, lsnr):
        n = x_t.shape[0]
        keep = np.zeros(n, bool)
        if np.ndim(guidance) == 0 and guidance == 1.0:
            return denoise(x_t, lsnr, keep)
        both = denoise(np.concatenate([x_t, x_t]), np.concatenate([lsnr, lsnr]), np.concatenate([keep, ~keep]))
        cond, uncond = both[:n], both[n:]
        return (uncond + guidance * (cond - uncond)).astype(np.float32)

    return f


def ddim_sample(f, noise: np.ndarray, steps: int, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Deterministic DDIM (eta = 0) from pure ``noise`` [B, ...] with an x0 predictor
    ``f(x_t, lsnr[B])`` (float32 numpy in and out)."""
    x = np.asarray(noise, np.float32)
    ts = np.linspace(1.0, 0.0, steps + 1, dtype=np.float32)
    batch = x.shape[0]
    x0 = x  # zero steps: nothing denoised
    for i in range(steps):
        l_t = logsnr(ts[i], logsnr_min, logsnr_max)
        l_s = logsnr(ts[i + 1], logsnr_min, logsnr_max)
        x0 = f(x, np.full(batch, l_t, np.float32))
        if i + 1 < steps:
            a_t, s_t = alpha_sigma(l_t)
            a_s, s_s = alpha_sigma(l_s)
            x = (a_s * x0 + s_s * (x - a_t * x0) / s_t).astype(np.float32)
    return x0  # the last step lands on t = 0, where x equals the predicted x0
