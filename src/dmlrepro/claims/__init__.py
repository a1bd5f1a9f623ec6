"""Claims, not just numbers: the papers' stated conclusions evaluated over seeds (evaluate.py),
checked at spec load (spec_check.py), and the papers' own consistency from their printed numbers
(consistency.py)."""
