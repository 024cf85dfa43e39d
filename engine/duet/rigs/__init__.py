"""The open FLAME-compatible heads: joint layout, forward kinematics, meshes (see rigs/ and docs/)."""
