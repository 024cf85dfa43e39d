"""Audio front end: loading, features at 25 fps, speaking masks."""
