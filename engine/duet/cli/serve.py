"""duet serve [--host H] [--port P] [--token T] [--allow DIR ...]"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from duet.service.app import BODY_TIMEOUT_S, DEFAULT_PORT, MAX_AUDIO_SECONDS, MAX_REQUEST_BYTES

    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else needs a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--token", help="bearer token clients must send (default: $DUET_TOKEN; at least 16 characters)")
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="a folder whose audio files jobs may name by path (repeatable; default: uploads only)")
    p.add_argument("--max-request-mb", type=float, default=MAX_REQUEST_BYTES / 2**20,
                   help="largest request body in MiB (default %(default)g)")
    p.add_argument("--max-audio-seconds", type=float, default=MAX_AUDIO_SECONDS,
                   help="longest audio a job may have (default %(default)g)")
    p.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT_S,
                   help="seconds an upload may send nothing before it is dropped (default %(default)g)")


def run(args) -> int:
    import os
    import socket
    import sys
    from pathlib import Path

    import uvicorn

    from duet.service.app import ServiceConfig, create_app
    from duet.service.linger import LingeringH11Protocol

    config = ServiceConfig(host=args.host, port=args.port, token=args.token or os.environ.get("DUET_TOKEN") or None,
                           allow=[Path(d).expanduser() for d in args.allow],
                           max_request_bytes=int(args.max_request_mb * 2**20),
                           max_audio_seconds=args.max_audio_seconds, body_timeout=args.body_timeout).check()
    # bind first so '--port 0' can report the port it got, on one line a launcher can read
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        from duet.errors import DuetError

        raise DuetError(f"cannot listen on {args.host}:{args.port} ({e.strerror})") from None
    sock.listen(2048)  # before the line below: a client that reads it may connect at once
    port = sock.getsockname()[1]
    app = create_app(config)
    try:
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"duet serve: listening on http://{shown}:{port}", file=sys.stderr, flush=True)
        server = uvicorn.Server(uvicorn.Config(app, http=LingeringH11Protocol, log_level="warning",
                                                timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:  # also when a signal comes before the server has started
        app.state.close()
    return 0
