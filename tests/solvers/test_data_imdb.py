"""aclImdb loader, bag-of-words features and pseudo-genre domains."""

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from solvers.datasets import (
    Domain,
    TransferData,
    cluster_movies,
    count_matrix,
    domain_shift,
    imdb_transfer,
    load_imdb,
    locate_imdb,
    scale_columns,
    select_vocabulary,
    shuffled_source,
)

# (split, polarity, id, rating, movie tt-number, text)
REVIEWS = [
    ("train", "pos", 0, 9, 111, "A great film.<br /><br />I LOVED it!"),
    ("train", "pos", 1, 7, 222, "Don't miss this sci-fi gem"),
    ("train", "neg", 0, 2, 111, "Awful. Just awful?"),
    ("train", "neg", 1, 4, 333, "boring film"),
    ("test", "pos", 0, 10, 444, "great great great"),
    ("test", "neg", 0, 1, 555, "awful film"),
]
VOCAB = ["film", "great", "awful", "!", "?", "don't", "sci-fi", "i", "unused"]


def write_acl(root: Path, reviews=REVIEWS, vocab=VOCAB) -> Path:
    """A tiny aclImdb tree below ``root``; urls line i is the movie of review i."""
    acl = root / "aclImdb"
    acl.mkdir(parents=True)
    if vocab is not None:
        (acl / "imdb.vocab").write_text("\n".join(vocab) + "\n")
    urls = {}
    for split, pol, rid, rating, movie, text in reviews:
        (acl / split / pol).mkdir(parents=True, exist_ok=True)
        (acl / split / pol / f"{rid}_{rating}.txt").write_text(text)
        lines = urls.setdefault((split, pol), {})
        lines[rid] = f"http://www.imdb.com/title/tt{movie:07d}/usercomments"
    for (split, pol), lines in urls.items():
        text = "\n".join(lines.get(i, "") for i in range(max(lines) + 1))
        (acl / split / f"urls_{pol}.txt").write_text(text + "\n")
    return acl


def tar_of(acl: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.add(acl, arcname="aclImdb")
    return target


def test_directory_parsing(tmp_path):
    acl = write_acl(tmp_path)
    reviews = load_imdb(acl)
    assert len(reviews) == 6
    assert reviews.vocab == tuple(VOCAB)
    # Sorted by (split, polarity, id): train/neg, train/pos, test/neg, test/pos.
    assert reviews.split.tolist() == [0, 0, 0, 0, 1, 1]
    assert reviews.ratings.tolist() == [2, 4, 9, 7, 1, 10]
    assert reviews.review_ids.tolist() == [0, 1, 0, 1, 0, 0]
    assert reviews.movie_ids.tolist() == [111, 333, 111, 222, 555, 444]
    assert reviews.texts[2] == "A great film.<br /><br />I LOVED it!"
    assert load_imdb(tmp_path).texts == reviews.texts  # parent of aclImdb/ works too


def test_tarball_matches_directory_and_ignores_extras(tmp_path):
    acl = write_acl(tmp_path / "d")
    # Parts of the official archive the loader must skip.
    (acl / "train" / "unsup").mkdir()
    (acl / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    (acl / "train" / "urls_unsup.txt").write_text("http://www.imdb.com/title/tt0000001/usercomments\n")
    (acl / "train" / "labeledBow.feat").write_text("9 0:1\n")
    (acl / "imdbEr.txt").write_text("0.1\n")
    from_dir = load_imdb(acl)
    from_tar = load_imdb(tar_of(acl, tmp_path / "aclImdb_v1.tar.gz"))
    assert from_tar.texts == from_dir.texts
    for field in ("ratings", "split", "movie_ids", "review_ids"):
        np.testing.assert_array_equal(getattr(from_tar, field), getattr(from_dir, field))
    assert len(from_tar) == 6


def test_take_subsets_every_field(tmp_path):
    reviews = load_imdb(write_acl(tmp_path))
    sub = reviews.take(reviews.split == 1)
    assert sub.ratings.tolist() == [1, 10] and sub.movie_ids.tolist() == [555, 444] and len(sub.texts) == 2


def test_corrupted_tarball(tmp_path):
    good = tar_of(write_acl(tmp_path / "d"), tmp_path / "good.tar.gz").read_bytes()
    bad = tmp_path / "aclImdb_labeled.tar.gz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"aclImdb_labeled\.tar\.gz: corrupted or unreadable tar archive"):
        load_imdb(bad)
    bad.write_bytes(b"this is not an archive")
    with pytest.raises(ValueError, match="corrupted or unreadable tar archive"):
        load_imdb(bad)


def test_missing_vocab(tmp_path):
    acl = write_acl(tmp_path / "d", vocab=None)
    with pytest.raises(ValueError, match=r"imdb\.vocab: missing vocabulary file"):
        load_imdb(acl)
    with pytest.raises(ValueError, match=r"a\.tgz:aclImdb/imdb\.vocab: missing vocabulary file"):
        load_imdb(tar_of(acl, tmp_path / "a.tgz"))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda acl: (acl / "train/pos/1_7.txt").rename(acl / "train/pos/1.txt"),
            r"pos/1\.txt: file name is not ID_RATING\.txt",
        ),
        (
            lambda acl: (acl / "train/neg/1_4.txt").rename(acl / "train/neg/1_8.txt"),
            r"1_8\.txt: rating 8 is not a valid neg rating",
        ),
        (lambda acl: (acl / "train/urls_neg.txt").unlink(), r"urls_neg\.txt: missing urls file"),
        (
            lambda acl: (acl / "test/urls_pos.txt").write_text("no url here\n"),
            r"urls_pos\.txt: line 1 has no IMDb title URL",
        ),
        (
            lambda acl: (acl / "train/pos/0_9.txt").rename(acl / "train/pos/5_9.txt"),
            r"5_9\.txt: review id 5 has no line in",
        ),
        (lambda acl: (acl / "test/neg/0_1.txt").write_bytes(b"\xff\xfe bad"), r"0_1\.txt: not valid UTF-8"),
        (lambda acl: shutil.rmtree(acl / "train") or shutil.rmtree(acl / "test"), "no labelled reviews found"),
    ],
)
def test_malformed_files_name_path_and_reason(tmp_path, damage, message):
    acl = write_acl(tmp_path)
    damage(acl)
    with pytest.raises(ValueError, match=message):
        load_imdb(acl)


def test_missing_path(tmp_path):
    with pytest.raises(ValueError, match="nowhere: no such file or directory"):
        load_imdb(tmp_path / "nowhere")


@pytest.mark.parametrize("layout", ["aclImdb_v1.tar.gz", "aclImdb_labeled.tar.gz", "aclImdb", "itself"])
def test_data_root_with_standard_names(tmp_path, layout):
    """One --data root serves every layout a user has: either tarball as named by its publisher, or
    the extracted folder; the root may also be the extracted folder itself."""
    acl = write_acl(tmp_path / "build")
    root = tmp_path / "root"
    root.mkdir()
    if layout.endswith(".tar.gz"):
        tar_of(acl, root / layout)
    elif layout == "aclImdb":
        shutil.move(acl, root / "aclImdb")
    else:
        root = acl
    expected = root if layout == "itself" else root / layout
    assert locate_imdb(root) == expected
    reviews = load_imdb(root)
    assert len(reviews) == 6 and reviews.vocab == tuple(VOCAB)


def test_data_root_prefers_extracted_folder_and_names_what_is_missing(tmp_path):
    acl = write_acl(tmp_path)
    tar_of(acl, tmp_path / "aclImdb_v1.tar.gz")
    assert locate_imdb(tmp_path) == acl
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no IMDb data, expected aclImdb_v1\.tar\.gz, aclImdb_labeled"):
        load_imdb(tmp_path / "empty")


def test_tokenization_and_counts():
    texts = ["Don't<br />STOP!! sci-fi, don't", "the end?"]
    vocab = ["don't", "stop", "!", "sci-fi", "?", "sci", "br", "the"]
    counts = count_matrix(texts, vocab).toarray()
    np.testing.assert_array_equal(counts, [[2, 1, 2, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 1]])


def test_vocabulary_by_document_frequency_skips_absent_tokens():
    counts = sp.csr_matrix(np.array([[5, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]]))
    np.testing.assert_array_equal(select_vocabulary(counts, 2), [2, 1])
    np.testing.assert_array_equal(select_vocabulary(counts, 10), [2, 1, 0])


def test_scaling_mean_square_one_over_n_features():
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 5, (200, 30)) * (rng.random((200, 30)) < 0.1)
    dense[:, 7] = 0
    counts = sp.csr_matrix(dense)
    X = scale_columns(counts)
    assert sp.issparse(X) and X.nnz == counts.nnz
    mean_square = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    np.testing.assert_allclose(np.delete(mean_square, 7), 1 / 30)
    assert mean_square[7] == 0
    # log1p, not raw counts: within a column, entries are proportional to log1p(count).
    j = np.argmax(counts.getnnz(axis=0))
    col_counts, col_x = counts[:, j].toarray().ravel(), X[:, j].toarray().ravel()
    nz = col_counts > 0
    np.testing.assert_allclose(col_x[nz] / np.log1p(col_counts[nz]), (col_x[nz] / np.log1p(col_counts[nz]))[0])


def synthetic_genres(tmp_path):
    """Two genres of 8 movies each, 2 train and 2 test movies per genre pair of splits."""
    words = {"horror": ["scary", "gore", "blood", "scream"], "tv": ["episode", "season", "series", "pilot"]}
    common = ["good", "bad", "film", "plot"]
    rng = np.random.default_rng(1)
    reviews, next_id = [], {}
    for g, genre in enumerate(words):
        for m in range(8):
            movie = 100 * (g + 1) + m
            split = "train" if m < 5 else "test"
            for _ in range(3):
                rating = int(rng.choice([1, 2, 3, 4, 7, 8, 9, 10]))
                pol = "pos" if rating >= 7 else "neg"
                rid = next_id.get((split, pol), 0)
                next_id[(split, pol)] = rid + 1
                text = " ".join(rng.choice(words[genre], 6).tolist() + rng.choice(common, 4).tolist())
                reviews.append((split, pol, rid, rating, movie, text))
    vocab = [w for ws in words.values() for w in ws] + common
    return load_imdb(write_acl(tmp_path, reviews, vocab))


def test_clusters_and_transfer_on_synthetic_genres(tmp_path):
    reviews = synthetic_genres(tmp_path)
    counts = count_matrix(reviews.texts, reviews.vocab)
    clusters = cluster_movies(reviews, counts, 2, n_components=2, min_movies=2)
    horror = clusters.find("gore")
    assert clusters.find("season") == 1 - horror
    by_movie = dict(zip(clusters.movie_ids.tolist(), clusters.labels.tolist()))
    assert all(by_movie[m] == horror for m in range(100, 108))
    assert all(by_movie[m] == 1 - horror for m in range(200, 208))

    data = imdb_transfer(reviews, n_words=6, target="scary", counts=counts, clusters=clusters)
    assert data.info["target_cluster"] == horror
    assert len(data.sources) == len(data.source_tests) == 1
    assert data.target.n_samples == 15 and data.target_test.n_samples == 9
    assert all(reviews.split[d.rows].tolist() == [0] * d.n_samples for d in data.datasets)
    assert reviews.split[data.target_test.rows].tolist() == [1] * 9
    # Responses: ratings centered on each training part's mean.
    assert abs(data.target.y.mean()) < 1e-12
    np.testing.assert_allclose(
        data.target_test.y, reviews.ratings[data.target_test.rows] - reviews.ratings[data.target.rows].mean()
    )
    assert len(data.feature_names) == data.n_features == 6


def test_shuffled_source_is_held_out_reviews_with_their_ratings_permuted(tmp_path):
    reviews = synthetic_genres(tmp_path)
    counts = count_matrix(reviews.texts, reviews.vocab)
    clusters = cluster_movies(reviews, counts, 2, n_components=2, min_movies=2)
    data = imdb_transfer(reviews, n_words=6, target="scary", counts=counts, clusters=clusters)
    part = data.source_tests[0]
    shuffled = shuffled_source(data, seed=3)
    # its design rows are those held-out reviews, none of them a training row
    assert shuffled.rows.tolist() == part.rows.tolist() and reviews.split[shuffled.rows].tolist() == [1] * 9
    assert (shuffled.A != part.A).nnz == 0 and shuffled.name == part.name + ":shuffled"
    # its ratings are theirs permuted, by the seed
    order = np.random.default_rng(3).permutation(9)
    np.testing.assert_array_equal(shuffled.y, part.y[order])
    np.testing.assert_array_equal(shuffled_source(data, seed=3).y, shuffled.y)
    assert not np.array_equal(shuffled_source(data, seed=4).y, shuffled.y)


def _domain(name, rows, rng):
    return Domain(
        name, sp.random(rows, 3, density=0.5, format="csr", random_state=rng), rng.normal(size=rows), np.arange(rows)
    )


def test_shuffled_source_takes_the_largest_held_out_part_and_needs_one():
    rng = np.random.default_rng(0)
    target, test = _domain("t", 4, rng), _domain("t:test", 4, rng)
    sources = (_domain("a", 9, rng), _domain("b", 2, rng))
    data = TransferData(target, test, sources, ("x", "y", "z"), (_domain("a:test", 3, rng), _domain("b:test", 5, rng)))
    shuffled = shuffled_source(data)
    assert shuffled.name == "b:test:shuffled" and sorted(shuffled.y) == sorted(data.source_tests[1].y)
    with pytest.raises(ValueError, match="no held-out source rows"):
        shuffled_source(TransferData(target, test, sources, ("x", "y", "z")))
    one = TransferData(target, test, sources[:1], ("x", "y", "z"), (_domain("a:test", 1, rng),))
    with pytest.raises(ValueError, match="has 1 row"):
        shuffled_source(one)


@pytest.fixture(scope="module")
def real_reviews(shared_data):
    tarball = shared_data / "aclImdb_labeled.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"real data not found at {tarball}")
    return load_imdb(tarball)


def test_real_data_loads(real_reviews):
    assert len(real_reviews) == 50_000 and len(real_reviews.vocab) == 89_527
    assert np.bincount(real_reviews.split).tolist() == [25_000, 25_000]
    assert set(np.unique(real_reviews.ratings).tolist()) == {1, 2, 3, 4, 7, 8, 9, 10}
    assert np.bincount(real_reviews.movie_ids).max() <= 30


def test_real_data_domains_differ(real_reviews):
    """On a quarter of the reviews (to stay fast), the horror target is measurably shifted."""
    reviews = real_reviews.take(np.arange(0, len(real_reviews), 4))
    data = imdb_transfer(reviews, n_words=1000)
    assert "horror" in data.info["top_terms"][data.info["target_cluster"]]
    X = sp.vstack([d.A for d in (*data.datasets, data.target_test, *data.source_tests)])
    assert X.shape == (len(reviews), 1000)
    np.testing.assert_allclose(X.multiply(X).mean(axis=0), 1 / 1000, rtol=1e-10)
    shift = domain_shift(data)
    # Measured: R² ≈ 0.31 on held-out sources, ≈ 0.16 on the target.
    assert shift["r2_target"] < shift["r2_source"] - 0.08
    assert shift["mse_target"] > 1.15 * shift["mse_source"]
