"""``duet layout PROMPT``: where the two heads are for a scene description."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("prompt", nargs="+", help="the scene, e.g. 'two friends across a kitchen table'")
    p.add_argument("--json", action="store_true", help='print {"A": [x,y,z], "B": [x,y,z], "source": ...}')
    p.add_argument("--offline", action="store_true", help="never ask the LLM endpoint, even when configured")


def run(args) -> int:
    from duet.layout import predict, rules

    prompt = " ".join(args.prompt)
    layout = predict(prompt, use_llm=not args.offline)
    if layout.reason:
        print(f"duet layout: {layout.reason}; used the offline predictor", file=sys.stderr)
    if args.json:
        print(layout.to_json())
        return 0
    d = layout.as_dict()
    print(f"A: {d['A']}\nB: {d['B']}\n{layout.distance:.2f} m apart ({layout.source})")
    if layout.source == "offline":  # what the words decided; the nearest examples filled the rest
        for note in rules.read(prompt).notes:
            print(f"  {note}")
    return 0
