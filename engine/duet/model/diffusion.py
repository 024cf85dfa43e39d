"""Cosine logSNR noise schedule, x0-prediction DDIM sampling and classifier-free guidance (torch).

Continuous time t in [0, 1]: logSNR(t) = -2 log tan(a + t (b - a)), with a, b chosen so that
logSNR(0) = logsnr_max and logSNR(1) = logsnr_min exactly; alpha^2 = sigmoid(logSNR),
sigma^2 = sigmoid(-logSNR), x_t = alpha x0 + sigma eps.
"""

from __future__ import annotations

import math


def logsnr(t, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Cosine logSNR schedule at time(s) t (tensor in [0, 1])."""
    import torch

    a = math.atan(math.exp(-0.5 * logsnr_max))
    b = math.atan(math.exp(-0.5 * logsnr_min))
    return -2.0 * torch.log(torch.tan(a + t * (b - a)))


def alpha_sigma(lsnr):
    import torch

    return torch.sqrt(torch.sigmoid(lsnr)), torch.sqrt(torch.sigmoid(-lsnr))


def q_sample(x0, lsnr, noise):
    """Noise clean x0 [B, ..., D] to logSNR ``lsnr`` [B]."""
    alpha, sigma = alpha_sigma(lsnr)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    return alpha.view(shape) * x0 + sigma.view(shape) * noise


def guided(denoise, guidance):
    """Classifier-free guidance: x0 = x0(uncond) + w (x0(cond) - x0(uncond)); w = 1 is conditional.

    ``denoise(x_t, lsnr[B], drop[B] bool)`` returns predicted x0 with the audio dropped where
    ``drop`` is set. Both branches run as one batch. ``guidance`` is a number or a tensor that
    broadcasts against x0 (e.g. one weight per person and frame).
    """
    import torch

    def f(x_t, lsnr):
        n = x_t.shape[0]
        keep = torch.zeros(n, dtype=torch.bool)
        if not torch.is_tensor(guidance) and guidance == 1.0:
            return denoise(x_t, lsnr, keep)
        both = denoise(torch.cat([x_t, x_t]), torch.cat([lsnr, lsnr]), torch.cat([keep, ~keep]))
        cond, uncond = both[:n], both[n:]
        return uncond + guidance * (cond - uncond)

    return f


def ddim_sample(f, shape, steps: int, generator, logsnr_min: float = -15.0, logsnr_max: float = 15.0,
                dtype=None):
    """Deterministic DDIM (eta = 0) from pure noise with an x0 predictor ``f(x_t, lsnr[B])``."""
    import torch

    x = torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    batch = shape[0]
    x0 = x  # zero steps: nothing denoised
    for i in range(steps):
        l_t = logsnr(ts[i], logsnr_min, logsnr_max)
        l_s = logsnr(ts[i + 1], logsnr_min, logsnr_max)
        x0 = f(x, l_t.expand(batch))
        if i + 1 < steps:
            a_t, s_t = alpha_sigma(l_t)
            a_s, s_s = alpha_sigma(l_s)
            x = a_s * x0 + s_s * (x - a_t * x0) / s_t
    return x0  # the last step lands on t = 0, where x equals the predicted x0
