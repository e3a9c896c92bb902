"""fute: unified task embeddings for data sets, models and prompted LLMs.

First call, one line::

    import fute
    e = fute.dataset_embedding("sentiment-imdb")
"""

__version__ = "0.1.0"
