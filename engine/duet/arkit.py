"""The ARKit-52 blendshape names: Duet's default expression basis (camelCase, Apple's order),
name matching, and the ARKit channels derived from the jaw and eye joints (pure numpy)."""

import numpy as np

ARKIT_52 = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

INDEX = {name: i for i, name in enumerate(ARKIT_52)}

# The engine carries jaw opening and gaze in the FLAME joints (docs/formats.md); rigs that only have
# ARKit shape keys get these channels from the joints, at these full-scale angles.
JAW_OPEN_RAD = 0.35
EYE_LOOK_RAD = 0.5
JOINT_CHANNELS = {
    "jaw": ("jawOpen",),
    "eye_L": ("eyeLookUpLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft"),
    "eye_R": ("eyeLookUpRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight"),
}


def canonical(name: str) -> str:
    """Matching key for channel and shape-key names: case-free, ``_L/.R/-l`` read as Left/Right.

    ``eyeBlink_L``, ``EyeBlinkLeft`` and ``eye_blink.left`` all become ``eyeblinkleft``.
    """
    s = name.strip().lower()
    for sep in "_.- ":
        for short, full in (("l", "left"), ("r", "right")):
            if s.endswith(sep + short):
                s = s[:-2] + full
    return "".join(ch for ch in s if ch.isalnum())


def eye_angles(eye_aa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yaw (to the person's left, +X) and pitch (down) in radians of an eye's gaze, from its axis-angle [T,3]."""
    from duet.frames import rotmat

    d = rotmat(eye_aa)[..., :, 2]  # the rest gaze is +Z, so the gaze is the rotation's third column
    return np.arctan2(d[..., 0], d[..., 2]), np.arctan2(-d[..., 1], np.hypot(d[..., 0], d[..., 2]))


def channels_from_joints(poses: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ARKit jawOpen and eyeLook* weights [T] in [0, 1] derived from the jaw and eye joints.

    jawOpen = jaw X-rotation / JAW_OPEN_RAD; an eye's look channels = its gaze angle / EYE_LOOK_RAD.
    Looking to the person's left is outward for the left eye and inward for the right eye.
    """
    ramp = lambda a, full: np.clip(a / full, 0.0, 1.0).astype(np.float32)  # noqa: E731
    out = {"jawOpen": ramp(np.asarray(poses["jaw"], np.float64)[:, 0], JAW_OPEN_RAD)}
    for joint, side in (("eye_L", "Left"), ("eye_R", "Right")):
        yaw_left, pitch_down = eye_angles(poses[joint])
        outward = yaw_left if side == "Left" else -yaw_left
        out[f"eyeLookUp{side}"] = ramp(-pitch_down, EYE_LOOK_RAD)
        out[f"eyeLookDown{side}"] = ramp(pitch_down, EYE_LOOK_RAD)
        out[f"eyeLookOut{side}"] = ramp(outward, EYE_LOOK_RAD)
        out[f"eyeLookIn{side}"] = ramp(-outward, EYE_LOOK_RAD)
    return out


def to_arkit(expr: np.ndarray, expr_names, poses: dict[str, np.ndarray]) -> np.ndarray:
    """[T,52] ARKit weights in Apple's order: the motion's channels matched by canonical name,
    with the joint-carried channels (jaw, eye look) added from the joints."""
    expr = np.asarray(expr, np.float32)
    out = np.zeros((expr.shape[0], len(ARKIT_52)), np.float32)
    by_key = {canonical(n): i for i, n in enumerate(ARKIT_52)}
    for j, name in enumerate(expr_names):
        i = by_key.get(canonical(name))
        if i is not None:
            out[:, i] = expr[:, j]
    for name, values in channels_from_joints(poses).items():
        out[:, INDEX[name]] = np.clip(out[:, INDEX[name]] + values, 0.0, 1.0)
    return out
