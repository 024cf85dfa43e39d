"""The preview's framing on real Blender: a baked face-to-face scene, the preview's own cameras, and the
heads' projected bounding boxes (chin to crown) measured through them; plus the speaker cuts."""

from __future__ import annotations

import numpy as np
import pytest

from duet.arkit import ARKIT_52
from duet.frames import facing_yaw, yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.rigs.kinematics import transl_for_head
from tests.bake_support import run_blender
from tests.conftest import run_duet

FPS = 25
N = 100  # 4 s: A speaks for the first half, B for the second
LAYOUT = {"A": [0.0, 1.6, -0.57], "B": [0.0, 1.6, 0.57]}  # the demo's: face to face, 1.14 m apart

MEASURE = r'''
from bpy_extras.object_utils import world_to_camera_view
from duet.render.preview import staged_preview
out = {"frames": []}
bpy.ops.wm.open_mainfile(filepath=BLEND)
out["markers_before"] = sorted([m.name, m.frame] for m in bpy.context.scene.timeline_markers)  # the bake's turns
with staged_preview(BLEND, size=(1280, 720), motion=MOTION, cuts=True, min_shot=1.0, engine="cycles") as scene:
    keys = [ob for ob in scene.objects if ob.type == "LIGHT" and not ob.hide_render]
    out["keys"] = {ob.name: sorted(o.parent["duet_person"] for o in ob.light_linking.receiver_collection.objects)
                   for ob in keys}
    heads = {}
    for ob in scene.objects:
        if ob.type == "ARMATURE" and ob.get("duet_person"):
            mesh = [c for c in ob.children if c.type == "MESH"][0]
            co = np.array([v.co[:] for v in mesh.data.vertices])
            front = (co[:, 1] < -0.04) & (np.abs(co[:, 0]) < 0.03)   # the face's midline, rest pose
            heads[ob["duet_person"]] = (mesh, np.nonzero(co[:, 2] >= co[front, 2].min())[0])  # chin up
    for f in range(scene.frame_start, scene.frame_end + 1, 6):
        scene.frame_set(f)
        cam = scene.camera
        depsgraph = bpy.context.evaluated_depsgraph_get()
        boxes = {}
        for p, (mesh, rows) in heads.items():
            ev = mesh.evaluated_get(depsgraph)
            data = ev.to_mesh()
            pts = [world_to_camera_view(scene, cam, mesh.matrix_world @ data.vertices[int(i)].co) for i in rows[::4]]
            ev.to_mesh_clear()
            uvz = np.array([p_[:] for p_ in pts])
            boxes[p] = [float(uvz[:, 0].min()), float(uvz[:, 0].max()), float(uvz[:, 1].min()),
                        float(uvz[:, 1].max()), float(uvz[:, 2].min())]
        out["frames"].append({"frame": f, "camera": cam.name, "boxes": boxes})
    out["objects"] = len(scene.objects)
out["objects_after"] = len(scene.objects)
out["leftovers"] = [d.name for c in (bpy.data.collections, bpy.data.materials, bpy.data.worlds, bpy.data.lights)
                    for d in c if d.name.startswith("duet_preview")]
out["markers_after"] = sorted([m.name, m.frame] for m in scene.timeline_markers)
out["camera_after"] = scene.camera.name
print(json.dumps(out))
'''


def _motion() -> DyadicMotion:
    people = {}
    for p, q in (("A", "B"), ("B", "A")):
        face = facing_yaw(np.array(LAYOUT[p]), np.array(LAYOUT[q]))
        m = PersonMotion.still(N, len(ARKIT_52), transl_for_head(np.array(LAYOUT[p]), face))
        m.poses["global"][:] = yaw(face)
        talking = slice(0, N // 2) if p == "A" else slice(N // 2, N)
        m.poses["jaw"][talking, 0] = 0.15 + 0.12 * np.sin(np.arange(N)[talking] * 0.9)
        m.speaking[talking] = 1.0
        people[p] = m
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=FPS,
                        meta={"layout": LAYOUT, "audio": []}).validate()


@pytest.mark.blender
def test_preview_frames_each_head_at_least_half_the_frame_and_cuts_to_the_speaker(tmp_path):
    _motion().save(tmp_path / "talk.npz")
    r = run_duet("bake", tmp_path / "talk.npz", "-o", tmp_path / "scene.blend")
    assert r.rc == 0, r.err
    info = run_blender(f"BLEND = {str(tmp_path / 'scene.blend')!r}\nMOTION = {str(tmp_path / 'talk.npz')!r}\n"
                       + MEASURE)
    shots = {}
    for fr in info["frames"]:
        f, cam, boxes = fr["frame"], fr["camera"], fr["boxes"]
        shots[f] = cam.rsplit(" ", 1)[-1]
        shown = ("A", "B") if shots[f] == "both" else (shots[f],)
        for p in shown:
            x0, x1, y0, y1, depth = boxes[p]
            assert depth > 0.3, (f, p)
            assert y1 - y0 >= 0.5, (f, cam, p, y1 - y0)          # at least half the frame height
            assert -0.01 <= x0 and x1 <= 1.01 and y1 <= 1.01, (f, cam, p, boxes[p])  # whole head in the frame
        if shots[f] == "both":  # side by side: the boxes do not overlap
            (a0, a1), (b0, b1) = boxes["A"][:2], boxes["B"][:2]
            assert min(a1, b1) < max(a0, b0), (f, boxes)
        else:  # a close-up: the partner is not in it
            other = "B" if shots[f] == "A" else "A"
            x0, x1, y0, y1, depth = boxes[other]
            assert depth < 0 or x1 < 0 or x0 > 1 or y1 < 0 or y0 > 1, (f, boxes)
    frames = sorted(shots)
    # frame 1 opens on the two-shot; A's close-up while A talks, B's once B has talked past the 1 s minimum
    assert shots[frames[0]] == "both"
    assert {shots[f] for f in frames if 30 <= f <= 50} == {"A"}
    assert {shots[f] for f in frames if f >= 80} == {"B"}
    # everything the preview added is gone again
    assert info["objects_after"] == info["objects"] - 5  # three cameras and the two key lamps
    # the preview's camera markers are gone; the bake's turn markers (A, then B) are as they were
    assert info["markers_after"] == info["markers_before"] == [["talk: A", 1], ["talk: B", 51]]
    assert not info["camera_after"].startswith("duet_preview")
    assert info["leftovers"] == []
    # one key per person, light-linked to that person's head alone (so one sample per pixel is clean)
    assert info["keys"] == {"duet_preview key A": ["A"], "duet_preview key B": ["B"]}


def test_shot_list_follows_the_speaker_and_holds_each_shot():
    from duet.render.framing import shot_list

    a = np.r_[np.zeros(10), np.ones(60), np.zeros(5), np.ones(8), np.zeros(80), np.ones(30), np.zeros(20)]
    b = np.r_[np.zeros(70), np.ones(20), np.zeros(3), np.ones(120)]
    # A talks from 10, B from 70 (both at once 75-82: no cut, the B shot is still young), a pause at 90-92
    # keeps B, both talk from 163, and the last 20 frames of B alone are too short for a shot of their own
    assert shot_list({"A": a, "B": b}, len(a), 25) == [(0, 25, None), (25, 70, "A"), (70, 163, "B"), (163, 213, None)]
    # with a short minimum the brief turns get their own shots
    assert [w for _, _, w in shot_list({"A": a, "B": b}, len(a), 5)] == [None, "A", "B", None, "B", None, "B"]
