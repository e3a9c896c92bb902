"""The core wing: what every other wing builds on and that imports nothing of fute above it.

`examples` (labelled data, `Examples`), `embedding` (`TaskEmbedding`, `cosine`), `kinds`
(the embedding kinds), `extras` (named arrays kept beside a vector), `errors`, `paths`
(the cache), `progress` (the one progress bar) and `jsonio` (the JSON of recorded metadata).
"""
