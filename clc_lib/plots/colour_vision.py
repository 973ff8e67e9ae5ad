"""How colours look to readers with a colour-vision deficiency, and how far apart two colours look.

Used to check that the chart palette stays readable: :func:`simulate_deficiency` maps sRGB colours
to what a reader with protanopia, deuteranopia or tritanopia sees, and :func:`ciede2000` measures the
perceived difference of two colours (about 1 is the smallest difference a viewer notices side by side).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["DEFICIENCIES", "simulate_deficiency", "srgb_to_lab", "ciede2000", "smallest_difference"]

# Machado, Oliveira and Fernandes (2009), "A physiologically-based model for simulation of color
# vision deficiency", IEEE Transactions on Visualization and Computer Graphics 15(6), 1291-1298:
# the matrices for severity 1.0 (complete dichromacy), applied to linear-light sRGB.
DEFICIENCIES: dict[str, np.ndarray] = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}

# CIE XYZ of sRGB's D65 white, scaled so that white has Y = 1.
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def simulate_deficiency(colors: Iterable, deficiency: str) -> np.ndarray:
    """Return the sRGB colours (0-1, one row per colour) a reader with ``deficiency`` perceives.

    Parameters
    ----------
    colors
        sRGB colours as RGB triples in 0-1 (e.g. matplotlib colours converted with ``to_rgb``).
    deficiency
        One of :data:`DEFICIENCIES`: ``"protanopia"``, ``"deuteranopia"`` or ``"tritanopia"``.
    """
    if deficiency not in DEFICIENCIES:
        raise ValueError(f"Unknown colour-vision deficiency {deficiency!r}; use one of {', '.join(DEFICIENCIES)}.")
    rgb = np.atleast_2d(np.asarray(list(colors), dtype=float))
    return _to_srgb(_to_linear(rgb) @ DEFICIENCIES[deficiency].T)


def srgb_to_lab(colors: Iterable) -> np.ndarray:
    """CIELAB (D65) coordinates ``L*, a*, b*`` of sRGB colours in 0-1, one row per colour."""
    rgb = np.atleast_2d(np.asarray(list(colors), dtype=float))
    xyz = (_to_linear(rgb) @ _SRGB_TO_XYZ.T) / _WHITE_D65
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference of two CIELAB colours (Sharma, Wu and Dalal 2005 formulation)."""
    l1, a1, b1 = (float(v) for v in lab1)
    l2, a2, b2 = (float(v) for v in lab2)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360 if c2p else 0.0
    delta_l, delta_c = l2 - l1, c2p - c1p
    if c1p * c2p == 0:
        delta_h_angle = 0.0
    elif abs(h2p - h1p) <= 180:
        delta_h_angle = h2p - h1p
    else:
        delta_h_angle = h2p - h1p - 360 if h2p > h1p else h2p - h1p + 360
    delta_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(delta_h_angle) / 2)
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hp_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hp_mean = (h1p + h2p) / 2
    else:
        hp_mean = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(hp_mean - 30)) + 0.24 * np.cos(np.radians(2 * hp_mean))
         + 0.32 * np.cos(np.radians(3 * hp_mean + 6)) - 0.20 * np.cos(np.radians(4 * hp_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    rotation = -2 * np.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25.0 ** 7)) * np.sin(
        np.radians(60 * np.exp(-(((hp_mean - 275) / 25) ** 2))))
    return float(np.sqrt((delta_l / s_l) ** 2 + (delta_c / s_c) ** 2 + (delta_h / s_h) ** 2
                         + rotation * (delta_c / s_c) * (delta_h / s_h)))


def smallest_difference(colors: dict, deficiency: str | None = None) -> tuple[float, str, str]:
    """The closest pair of ``colors`` (name -> sRGB) by CIEDE2000, as seen with ``deficiency`` (None: typical vision).

    Returns
    -------
    tuple
        ``(difference, first name, second name)`` of the closest pair.
    """
    names = list(colors)
    rgb = np.array([colors[name] for name in names], dtype=float)
    seen = rgb if deficiency is None else simulate_deficiency(rgb, deficiency)
    lab = srgb_to_lab(seen)
    closest = (np.inf, "", "")
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            difference = ciede2000(lab[i], lab[j])
            if difference < closest[0]:
                closest = (difference, names[i], names[j])
    return closest
