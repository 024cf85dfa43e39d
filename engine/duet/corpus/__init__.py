"""The synthetic conversation corpus: phones, scripts, layouts, assembly, ground-truth animator, shards.

Pipeline: scripts -> duet.speech speech -> conversation.assemble (mix, tracks, exact masks) ->
animator.animate (ground-truth DyadicMotion) -> corpus shards + manifest (see docs/corpus.md).
"""
