"""`dbsynth audit`: an empirical lower bound on ε, from canary units planted in a scratch copy
of the source and membership attacks on the shadows the real pipeline makes of it.

canaries (what is planted) → scratch (source rows + drawn canaries) → the pipeline → features →
attacks (scores) → guesses → bounds (ε_lower at a stated confidence). `runner.audit` runs it all.
"""
