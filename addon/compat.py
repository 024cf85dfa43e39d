"""The one shim for Blender API differences the UI meets between 4.2 and 5.0."""

import bpy


def online_access() -> bool:
    """Blender's "Allow Online Access" (4.2+); older versions have no such switch."""
    return getattr(bpy.app, "online_access", True)


def progress_bar(layout, factor: float, text: str) -> None:
    """A progress bar (``layout.progress`` since 4.0), else a plain label."""
    if hasattr(layout, "progress"):
        layout.progress(factor=factor, type="BAR", text=text)
    else:
        layout.label(text=f"{text} {100 * factor:.0f}%")


def poll_answer(cls, reason: str | None) -> bool:
    """An operator's poll result: True when nothing blocks it (``reason`` None), else False with the
    reason shown as the greyed-out button's tooltip."""
    if reason and hasattr(cls, "poll_message_set"):
        cls.poll_message_set(reason)
    return reason is None
