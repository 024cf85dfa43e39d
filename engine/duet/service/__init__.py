"""The engine service the Blender add-on talks to: jobs (audio -> DyadicMotion) over local HTTP or a
subprocess, with the same stages and progress either way.

- ``jobs``: one job's stages (``run_job``) and the queue that runs them one at a time.
- ``app``: the FastAPI app behind ``duet serve`` (auth, limits, allowed folders, JSON errors).
- ``worker``: ``python -m duet.service.worker``, one job as JSON on stdin, progress lines on stdout.
- ``client``: standard-library clients for both (bundled into the add-on; no numpy, no bpy).
"""
