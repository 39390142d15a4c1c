"""Bag-of-words features for aclImdb reviews, scaled to the theory's convention.

Tokenization: ``<br />`` tags become spaces, text is lowercased, and tokens are
matches of :data:`TOKEN_PATTERN` (words with inner apostrophes or hyphens such
as ``don't`` or ``sci-fi``, plus ``!`` and ``?``), counted against a fixed
vocabulary with sklearn's ``CountVectorizer(vocabulary=...)``.  This yields
89,448 of the 89,527 imdb.vocab entries; the rest are emoticons such as ``:)``.

Vocabulary: the ``n_words`` tokens of imdb.vocab with the highest document
frequency in the reviews given (ties broken by imdb.vocab order).

Scaling: entries are ``log1p(count)`` (damps repeated words, keeps sparsity),
and each column is divided so that its mean square over all reviews given is
``1/n_words``.  THEORY.md's design has entries of variance 1/N with N the
number of features, so rows have squared norm about 1 and the hyperparameters
stay O(1).  The scale is computed once over the pooled reviews so that a
feature means the same thing in every domain.

Columns are not centered: centering would turn the sparse matrix dense (50,000
× 2,000 floats = 800 MB).  Instead the response is centered within each
dataset, which removes the intercept the model does not have; the nonzero
column means then act like one extra, nearly common, direction of the design.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

__all__ = ["TOKEN_PATTERN", "preprocess", "count_matrix", "select_vocabulary", "scale_columns"]

TOKEN_PATTERN = r"(?u)\w+(?:['\-]\w+)*|[!?]"


def preprocess(text: str) -> str:
    """Drop the ``<br />`` line breaks and lowercase."""
    return text.replace("<br />", " ").lower()


def count_matrix(texts, vocab) -> sp.csr_matrix:
    """Token counts, reviews × vocab (int32 CSR), with the documented tokenization."""
    vectorizer = CountVectorizer(
        vocabulary=list(vocab), token_pattern=TOKEN_PATTERN, preprocessor=preprocess, dtype=np.int32
    )
    return vectorizer.transform(texts).tocsr()


def select_vocabulary(counts: sp.spmatrix, n_words: int) -> np.ndarray:
    """Column indices of the ``n_words`` most document-frequent tokens that occur.

    Ordered by decreasing document frequency; fewer are returned when fewer occur.
    """
    if n_words < 1:
        raise ValueError(f"n_words must be >= 1, got {n_words}")
    doc_freq = np.asarray((counts > 0).sum(axis=0)).ravel()
    order = np.argsort(-doc_freq, kind="stable")
    return order[: min(n_words, int(np.count_nonzero(doc_freq)))]


def scale_columns(counts: sp.spmatrix) -> sp.csr_matrix:
    """``log1p`` counts with every column's mean square equal to 1/n_columns.

    All-zero columns stay zero.
    """
    X = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    np.log1p(X.data, out=X.data)
    mean_square = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    scale = np.zeros_like(mean_square)
    occurs = mean_square > 0
    scale[occurs] = 1.0 / np.sqrt(mean_square[occurs] * X.shape[1])
    return (X @ sp.diags(scale)).tocsr()
