"""Real-data loaders and feature pipelines for the transfer-learning studies.

- aclImdb reviews (:mod:`.imdb`, :mod:`.imdb_features`, :mod:`.imdb_domains`):
  bag-of-words designs, star-rating responses, pseudo-genre domains.
- MNIST (:mod:`.idx`, :mod:`.mnist`): standardized pixel designs per digit class
  for semi-artificial experiments.

Loaders read a path the user gives and never download anything.
"""

from .idx import read_idx
from .imdb import IMDB_NAMES, ImdbReviews, load_imdb, locate_imdb
from .imdb_domains import MovieClusters, cluster_movies, domain_shift, imdb_transfer
from .imdb_features import count_matrix, scale_columns, select_vocabulary
from .mnist import MnistDesigns, load_mnist, locate_mnist, mnist_designs
from .transfer import Domain, TransferData, shuffled_source

__all__ = [
    "Domain",
    "TransferData",
    "shuffled_source",
    "ImdbReviews",
    "load_imdb",
    "locate_imdb",
    "IMDB_NAMES",
    "count_matrix",
    "select_vocabulary",
    "scale_columns",
    "MovieClusters",
    "cluster_movies",
    "imdb_transfer",
    "domain_shift",
    "read_idx",
    "load_mnist",
    "locate_mnist",
    "MnistDesigns",
    "mnist_designs",
]
