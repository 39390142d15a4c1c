"""Loader for the Large Movie Review Dataset (aclImdb, Maas et al., ACL 2011).

Reads the official layout, either streamed from a tarball (``aclImdb_v1.tar.gz``
as published, or its labelled part ``aclImdb_labeled.tar.gz``; nothing is extracted
to disk) or from an extracted ``aclImdb/`` directory::

    aclImdb/imdb.vocab
    aclImdb/{train,test}/{pos,neg}/ID_RATING.txt
    aclImdb/{train,test}/urls_{pos,neg}.txt     line ID = movie page of review ID

The unlabelled ``train/unsup`` reviews and the precomputed ``*.feat`` files are
ignored.  Nothing is ever downloaded: point ``path`` at your own copy.

Speed: streaming the 29.6 MB tarball (50,000 reviews) takes about 2 s, reading
the extracted directory about the same, so there is no on-disk cache.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ImdbReviews", "load_imdb", "locate_imdb", "IMDB_NAMES", "SPLITS", "POLARITIES"]

# what a data root may hold, in the order they are looked for: extracted, as published, labelled part
IMDB_NAMES = ("aclImdb", "aclImdb_v1.tar.gz", "aclImdb_labeled.tar.gz")
SPLITS = ("train", "test")
POLARITIES = ("neg", "pos")

_REVIEW_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
_MOVIE_URL = re.compile(r"/title/tt(\d+)")
_RATINGS = {"neg": range(1, 5), "pos": range(7, 11)}


@dataclass(frozen=True, eq=False)
class ImdbReviews:
    """All labelled reviews, sorted by (split, polarity, review id).

    ``texts[i]`` is the raw review (with its ``<br />`` tags), ``ratings[i]`` the
    star rating in {1..4, 7..10} taken from the file name, ``split[i]`` 0 = train
    and 1 = test (see ``SPLITS``), ``movie_ids[i]`` the IMDb tt-number, and
    ``review_ids[i]`` the ID of the file name (unique within split × polarity).
    ``vocab`` lists imdb.vocab in file order.
    """

    texts: tuple[str, ...]
    ratings: np.ndarray
    split: np.ndarray
    movie_ids: np.ndarray
    review_ids: np.ndarray
    vocab: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices) -> ImdbReviews:
        """The reviews at ``indices`` (an integer array or a boolean mask)."""
        idx = np.arange(len(self))[np.asarray(indices)]
        return ImdbReviews(
            texts=tuple(self.texts[i] for i in idx),
            ratings=self.ratings[idx],
            split=self.split[idx],
            movie_ids=self.movie_ids[idx],
            review_ids=self.review_ids[idx],
            vocab=self.vocab,
        )


def locate_imdb(path) -> Path:
    """The aclImdb copy that ``path`` designates: a tar archive, the extracted ``aclImdb``
    directory itself, or a data root holding one of :data:`IMDB_NAMES` (first found wins).

    Only names are checked, nothing is read. Raises ValueError naming what is missing.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "aclImdb_v1.tar.gz").write_bytes(b"")
    >>> locate_imdb(root).name
    'aclImdb_v1.tar.gz'
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or directory")
    for name in IMDB_NAMES:
        candidate = path / name
        if candidate.is_dir() if name == "aclImdb" else candidate.is_file():
            return candidate
    if any((path / part).exists() for part in ("imdb.vocab", *SPLITS)):
        return path  # the extracted directory itself (what is missing in it is the parser's to say)
    raise ValueError(f"{path}: no IMDb data, expected {', '.join(IMDB_NAMES[1:])} or an extracted {IMDB_NAMES[0]}/")


def load_imdb(path) -> ImdbReviews:
    """Load the labelled aclImdb reviews from a tarball or a directory (:func:`locate_imdb`).

    A tar archive may have any compression tarfile reads.  Raises ValueError,
    naming the file and the reason, when something is missing or malformed.
    """
    path = locate_imdb(path)
    if path.is_file():
        files = _read_tarball(path)
        return _parse(files, lambda rel: f"{path}:aclImdb/{rel}")
    files = _read_directory(path)
    return _parse(files, lambda rel: str(path / rel))


def _wanted(rel: str) -> bool:
    """Relative paths (below aclImdb/) the loader needs."""
    parts = rel.split("/")
    if parts == ["imdb.vocab"]:
        return True
    if len(parts) == 2 and parts[0] in SPLITS:
        return parts[1] in (f"urls_{p}.txt" for p in POLARITIES)
    return len(parts) == 3 and parts[0] in SPLITS and parts[1] in POLARITIES


def _read_tarball(path: Path) -> dict[str, bytes]:
    files = {}
    try:
        # Stream mode: one sequential pass, no seeking, no extraction.
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                rel = name.removeprefix("aclImdb/")
                if member.isfile() and rel != name and _wanted(rel):
                    files[rel] = tar.extractfile(member).read()
            # tarfile ends iteration quietly at a header cut short, and its stream reader stops at
            # the end of the input without asking the decompressor whether the stream was complete
            while tar.fileobj.read(1 << 20):
                pass
            decompressor = getattr(tar.fileobj, "cmp", None)
            if decompressor is not None and not getattr(decompressor, "eof", True):
                raise EOFError("compressed stream ends before its end marker (truncated file)")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupted or unreadable tar archive ({exc})") from exc
    if not files:
        raise ValueError(f"{path}: tar archive has no aclImdb/ reviews")
    return files


def _read_directory(root: Path) -> dict[str, bytes]:
    files = {}
    vocab = root / "imdb.vocab"
    if vocab.is_file():
        files["imdb.vocab"] = vocab.read_bytes()
    for split in SPLITS:
        for pol in POLARITIES:
            urls = root / split / f"urls_{pol}.txt"
            if urls.is_file():
                files[f"{split}/urls_{pol}.txt"] = urls.read_bytes()
            folder = root / split / pol
            if folder.is_dir():
                for entry in folder.iterdir():
                    if entry.is_file():
                        files[f"{split}/{pol}/{entry.name}"] = entry.read_bytes()
    if not files:
        raise ValueError(f"{root}: directory has no aclImdb layout (imdb.vocab, train/, test/)")
    return files


def _decode(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not valid UTF-8 ({exc})") from exc


def _movie_ids(where: str, data: bytes) -> list[int]:
    ids = []
    for lineno, line in enumerate(_decode(where, data).splitlines()):
        match = _MOVIE_URL.search(line)
        if match is None:
            raise ValueError(f"{where}: line {lineno + 1} has no IMDb title URL (/title/tt...): {line[:80]!r}")
        ids.append(int(match.group(1)))
    return ids


def _parse(files: dict[str, bytes], locate) -> ImdbReviews:
    """Build the records; ``locate(rel)`` names a file in error messages."""
    if "imdb.vocab" not in files:
        raise ValueError(f"{locate('imdb.vocab')}: missing vocabulary file imdb.vocab")
    vocab = tuple(t for t in _decode(locate("imdb.vocab"), files["imdb.vocab"]).splitlines() if t)
    if not vocab:
        raise ValueError(f"{locate('imdb.vocab')}: vocabulary file is empty")

    records = []  # (split, polarity, review id, rating, movie id, text)
    for s, split in enumerate(SPLITS):
        for p, pol in enumerate(POLARITIES):
            prefix = f"{split}/{pol}/"
            names = sorted(rel for rel in files if rel.startswith(prefix))
            if not names:
                continue
            urls_rel = f"{split}/urls_{pol}.txt"
            if urls_rel not in files:
                raise ValueError(
                    f"{locate(urls_rel)}: missing urls file (needed for the movie ids of {prefix} reviews)"
                )
            movies = _movie_ids(locate(urls_rel), files[urls_rel])
            seen = set()
            for rel in names:
                where = locate(rel)
                match = _REVIEW_NAME.match(rel[len(prefix) :])
                if match is None:
                    raise ValueError(f"{where}: file name is not ID_RATING.txt")
                rid, rating = int(match.group(1)), int(match.group(2))
                if rating not in _RATINGS[pol]:
                    raise ValueError(f"{where}: rating {rating} is not a valid {pol} rating")
                if rid in seen:
                    raise ValueError(f"{where}: duplicate review id {rid} in {prefix}")
                if rid >= len(movies):
                    raise ValueError(
                        f"{where}: review id {rid} has no line in {locate(urls_rel)} ({len(movies)} lines)"
                    )
                seen.add(rid)
                records.append((s, p, rid, rating, movies[rid], _decode(where, files[rel])))
    if not records:
        raise ValueError(f"{locate('')}: no labelled reviews found under {{train,test}}/{{pos,neg}}/")

    records.sort(key=lambda r: r[:3])
    split, _, rid, rating, movie, texts = zip(*records)
    return ImdbReviews(
        texts=texts,
        ratings=np.array(rating, dtype=np.int64),
        split=np.array(split, dtype=np.int8),
        movie_ids=np.array(movie, dtype=np.int64),
        review_ids=np.array(rid, dtype=np.int64),
        vocab=vocab,
    )
