"""The engine wing: the surrogate encoder (`surrogate`), the embedding methods (`methods`:
fisher, prefix, mean-embedding) and the seeded sparse projection (`projection`).

Nothing here knows of stores, models or spaces; `fute.space` puts the pieces together.
"""
