"""Probabilistic scoring behind the deterministic rules, with Splink on DuckDB (or Spark,
past one machine: identity.yaml's probabilistic.backend): blocking
rules and comparisons for names (with nicknames, either way round), email, phone, street,
town and postcode (with the slips of typed-up sheets);
u by seeded random sampling (bounded where the sample misses a rare level), m by
expectation maximisation, so runs are repeatable."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from transforms import steps
from transforms.identity_config import Probabilistic

INPUT_VIEW = "_id_splink_input"
SCORED = "stage.id_scored"
# Enough random pairs for stable u estimates; about three seconds on two cores.
U_MAX_PAIRS = 1_000_000
# The most records a name, surname-and-postcode or address block may hold and still
# generate pairs.
MAX_BLOCK = 25
TRAIN_VIEW = "_id_splink_training"
ADDRESS_BLOCKS = ("address_block", "street_block", "town_block")


@dataclass
class ScoringReport:
    status: str  # scored | skipped: <why>
    pairs: int = 0
    seconds: float = 0.0


# Two names alike enough to be one name with a slip (a transposed or dropped letter).
NAME_ALIKE = 0.9
# Street names alike enough to be one street typed with a slip ('Fraknlin', 'Washngton').
STREET_ALIKE = 0.88


# Each backend's name for Jaro-Winkler similarity in the levels written as SQL (Splink's
# own levels know it; damerau_levenshtein and split_part are named alike in both).
JARO_WINKLER = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}


def _swapped(alike: float = NAME_ALIKE, backend: str = "duckdb") -> str:
    """First name of one record is the surname of the other, and the other way round."""
    jw = JARO_WINKLER[backend]
    return (
        f"{jw}(given_norm_l, family_norm_r) >= {alike} "
        f"AND {jw}(family_norm_l, given_norm_r) >= {alike}"
    )


def _name_comparisons(backend: str = "duckdb") -> list:
    """First name and surname. A name written the other way round (typed-up sheets swap
    them) is a level of the first name, weighed as both names agreeing at once; the
    surname then counts neither way."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    given = cl.CustomComparison(
        output_column_name="given_name",
        comparison_levels=[
            cll.NullLevel("given_norm"),
            cll.ExactMatchLevel("given_norm").configure(tf_adjustment_column="given_norm"),
            # Nicknames: Bill and William share a key.
            cll.ExactMatchLevel("given_key").configure(label_for_charts="Nickname match"),
            # A nickname with a slip ('tomy'): one letter from a name the list knows.
            cll.ExactMatchLevel("given_fuzzy_key").configure(
                label_for_charts="Nickname with a slip"
            ),
            cll.JaroWinklerLevel("given_norm", 0.92),
            cll.JaroWinklerLevel("given_norm", 0.80),
            cll.CustomLevel(
                _swapped(backend=backend), label_for_charts="Surname written as first name"
            ),
            cll.ElseLevel(),
        ],
    )
    family = cl.CustomComparison(
        output_column_name="family_name",
        comparison_levels=[
            cll.NullLevel("family_norm"),
            cll.ExactMatchLevel("family_norm").configure(tf_adjustment_column="family_norm"),
            cll.JaroWinklerLevel("family_norm", 0.92),
            cll.JaroWinklerLevel("family_norm", 0.80),
            # Counted once, on the first name: the two names agree as one event.
            cll.CustomLevel(
                _swapped(backend=backend), label_for_charts="Swapped, counted on the first name"
            ).configure(is_null_level=True),
            cll.ElseLevel(),
        ],
    )
    return [given, family]


def _address_comparisons(backend: str = "duckdb") -> list:
    """The street (house number and street name, the name with slips), the town and the
    postcode; a missing part is a null level, which counts neither way."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    street_alike = (
        f"({JARO_WINKLER[backend]}(street_name_l, street_name_r) >= {STREET_ALIKE} "
        "OR damerau_levenshtein(street_name_l, street_name_r) <= 2)"
    )
    street = cl.CustomComparison(
        output_column_name="street",
        comparison_levels=[
            cll.CustomLevel(
                "(street_number_l IS NULL AND street_name_l IS NULL) "
                "OR (street_number_r IS NULL AND street_name_r IS NULL)"
            ).configure(is_null_level=True),
            # A slip in the street name counts as the same street: one level, so its
            # weight is learnt from every record with an address, not the few with a slip.
            cll.CustomLevel(
                f"street_number_l = street_number_r AND {street_alike}",
                label_for_charts="Same number and street",
            ),
            cll.CustomLevel(
                "street_number_l = street_number_r "
                "AND (street_name_l IS NULL OR street_name_r IS NULL)",
                label_for_charts="Same number, street missing",
            ),
            cll.CustomLevel(
                f"(street_number_l IS NULL OR street_number_r IS NULL) AND {street_alike}",
                label_for_charts="Same street, number missing",
            ),
            cll.ElseLevel(),
        ],
    )
    town = cl.CustomComparison(
        output_column_name="locality",
        comparison_levels=[
            cll.NullLevel("locality_key"),
            cll.ExactMatchLevel("locality_key"),
            cll.JaroWinklerLevel("locality_key", NAME_ALIKE),
            cll.ElseLevel(),
        ],
    )
    return [street, town, cl.ExactMatch("postal_code")]


def _settings(backend: str = "duckdb"):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    # Exact, same mailbox name at another provider, or one typo. No looser fuzzy levels:
    # addresses built from a name (ana.lima12@, ana_lima7@) look alike across namesakes.
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email_key"),
            cll.ExactMatchLevel("email_key"),
            cll.CustomLevel(
                "split_part(email_key_l, '@', 1) = split_part(email_key_r, '@', 1)",
                label_for_charts="Same mailbox name",
            ),
            cll.LevenshteinLevel("email_key", 1),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            *_name_comparisons(backend),
            email,
            cl.ExactMatch("phone_key"),
            *_address_comparisons(backend),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email_key"),
            block_on("phone_key"),
            block_on("surname_block"),
            block_on("name_block"),
            # Records known only by name and address: the same house, the same street
            # number and name, or the same surname in the same town.
            *(_beside_name_and_address(b) for b in ADDRESS_BLOCKS),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _beside_name_and_address(block: str):
    """Pairs sharing `block` of which one record is known only by name and address: the
    others meet by email, phone or name, and a street number shared across towns would
    otherwise compare millions of strangers."""
    from splink.blocking_rule_library import CustomRule

    return CustomRule(f"l.{block} = r.{block} AND (l.is_name_and_address OR r.is_name_and_address)")


def _bounded(key: str, partition: str) -> str:
    """`key` where the block it makes holds at most MAX_BLOCK records, else NULL."""
    return f"CASE WHEN count(*) OVER (PARTITION BY {partition}) <= {MAX_BLOCK} THEN {key} END"


def _input_table(con: duckdb.DuckDBPyConnection, name: str, where: str) -> None:
    # Blocks of common names (John Smith) would compare everyone with everyone: only
    # blocks small enough to mean something generate pairs.
    blocks = {
        "surname_block": ("family_norm || '|' || postal_code", "family_norm, postal_code"),
        # Either way round: a typed-up sheet swaps first name and surname.
        "name_block": ("name_pair", "name_pair"),
        "address_block": ("postal_code || '|' || street_number", "postal_code, street_number"),
        "street_block": ("street_name || '|' || street_number", "street_name, street_number"),
        "town_block": ("family_norm || '|' || locality_key", "family_norm, locality_key"),
    }
    columns = ", ".join(
        f"{_bounded(key, part)} AS {alias}" for alias, (key, part) in blocks.items()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS "
        "SELECT record_key, given_norm, given_key, given_fuzzy_key, family_norm, email_key, "
        "phone_key, postal_code, street_number, street_name, locality_key, "
        "is_name_and_address, "
        f"{columns} FROM stage.id_records WHERE NOT is_empty AND {where}"
    )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _prior_rules() -> list:
    """Pairs the deterministic rules are sure of: how often two random records match."""
    from splink import block_on

    return [block_on("email_key"), block_on("phone_key", "given_key")]


# The levels that say one household (the same phone, mailbox, or house number and
# street): a random pair lands in them only by chance, so never landing in the sample
# bounds how rare they are. The fuzzy levels (an email one letter apart) are not bounded
# so: namesakes land in them far more often than random pairs (ana.lima12@, ana.lima13@).
RARE_LEVELS = {
    ("phone_key", "Exact match on phone_key"),
    ("email", "Exact match on email_key"),
    ("street", "Same number and street"),
}
# About Splink's default u for such a level: a sample bounding u no lower says nothing new.
UNSEEN_MOST = 0.001


def unseen_u(model: dict, pairs: float) -> dict:
    """`model` with u = 3 / `pairs` on each of RARE_LEVELS none of the `pairs` random pairs
    fell in: the most the sample allows at 95% confidence. Splink would leave the level on
    a generic default of about 1 in 1,000, weighing a shared phone or street address no
    more than a shared postcode."""
    bound = 3 / pairs
    if bound >= UNSEEN_MOST:  # too few pairs to say more than Splink's default does
        return model
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            rare = (comparison["output_column_name"], level.get("label_for_charts")) in RARE_LEVELS
            if rare and level.get("u_probability") is None:
                level["u_probability"] = bound
    return model


def _train(make_linker: Callable[[object], Any], settings: Probabilistic, records: int) -> dict:
    """Prior from pairs the rules are sure of, u by seeded random sampling (unseen levels
    by `unseen_u`), m by EM on small blocks; returns the trained model."""
    from splink import block_on

    linker = make_linker(_settings(settings.backend))
    linker.training.estimate_probability_two_random_records_match(_prior_rules(), recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=settings.seed)
    sampled_pairs = min(U_MAX_PAIRS, records * (records - 1) / 2)
    trained = make_linker(unseen_u(linker.misc.save_model_to_json(), sampled_pairs))
    training = trained.training
    # Small blocks (a mailbox, a phone) train fast and between them cover every
    # comparison: names and address are learnt where email agrees, email where phone does.
    training.estimate_parameters_using_expectation_maximisation(
        block_on("email_key"), fix_u_probabilities=True
    )
    training.estimate_parameters_using_expectation_maximisation(
        block_on("phone_key"), fix_u_probabilities=True
    )
    # Records without email or phone meet the others in address blocks: the names there
    # (swapped, misspelt) and the street's other levels are learnt from them.
    training.estimate_parameters_using_expectation_maximisation(
        _beside_name_and_address("address_block"), fix_u_probabilities=True
    )
    return trained.misc.save_model_to_json()


SCORED_COLUMNS = (
    "least(record_key_l, record_key_r), greatest(record_key_l, record_key_r), "
    "match_weight, match_probability"
)


@contextmanager
def _engine(con: duckdb.DuckDBPyConnection, settings: Probabilistic) -> Iterator[tuple]:
    """Where Splink runs (identity.yaml's probabilistic.backend): `register(table)` gives
    Splink one of the warehouse's input tables, `land(predictions)` puts the scored
    pairs into stage.id_scored. DuckDB works in the warehouse itself; Spark reads the
    inputs as Parquet and writes the pairs back the same way."""
    if settings.backend == "duckdb":
        from splink import DuckDBAPI

        api = DuckDBAPI(connection=con)

        def land_here(predictions) -> None:
            con.execute(
                f"INSERT INTO {SCORED} SELECT {SCORED_COLUMNS} FROM {predictions.physical_name}"
            )

        yield api.register, land_here
        return
    session = spark_session(settings.spark_master)
    from splink import SparkAPI

    api = SparkAPI(spark_session=session)
    with tempfile.TemporaryDirectory(prefix="groundswell-splink-") as folder:
        # Splink breaks Spark's lineage between its stages by checkpointing.
        session.sparkContext.setCheckpointDir(f"{folder}/checkpoints")

        def register(table: str):
            # Spark skips files whose names begin with an underscore.
            path = f"{folder}/{table.lstrip('_')}.parquet"
            con.execute(f"COPY {table} TO '{path}' (FORMAT parquet)")
            return api.register(session.read.parquet(path), dataset_display_name=table)

        def land_from_spark(predictions) -> None:
            path = f"{folder}/scored"
            columns = ("record_key_l", "record_key_r", "match_weight", "match_probability")
            predictions.as_spark_dataframe().select(*columns).write.parquet(path)
            con.execute(
                f"INSERT INTO {SCORED} SELECT {SCORED_COLUMNS} "
                f"FROM read_parquet('{path}/*.parquet')"
            )

        yield register, land_from_spark


def spark_session(master: str):
    """A Spark session at `master` with Splink's similarity functions on its classpath;
    a clear error when Spark cannot be used here."""
    try:
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        raise IdentityScoringError(
            "identity.yaml sets probabilistic.backend: spark, but pyspark is not installed: "
            "install it with pip install -e '.[spark]' (Spark needs Java 17 or later), or "
            "set backend: duckdb"
        ) from None
    try:
        return (
            SparkSession.builder.master(master)
            .appName("groundswell-identity")
            .config("spark.jars", similarity_jar_location())
            .getOrCreate()
        )
    except Exception as exc:  # the JVM's own words: no Java, a master that does not answer
        raise IdentityScoringError(
            f"identity.yaml sets probabilistic.backend: spark, but no Spark session could "
            f"start at spark_master {master!r} ({type(exc).__name__}); check that Java 17 or "
            "later is installed and the master answers, or set backend: duckdb"
        ) from None


class IdentityScoringError(RuntimeError):
    """Probabilistic scoring cannot run where identity.yaml says; the message says why."""


def score_pairs(
    con: duckdb.DuckDBPyConnection, settings: Probabilistic, log: Callable[[str], None]
) -> ScoringReport:
    """Step identity_scoring: score candidate pairs of `stage.id_records` into
    `stage.id_scored(a, b, match_weight, match_probability)`, a < b, keeping pairs at or
    above the review threshold. Too few records to train on, or scoring switched off: the
    table is empty and the report says why."""
    steps.require(con, "identity_scoring")
    con.execute(
        f"CREATE OR REPLACE TABLE {SCORED} "
        "(a VARCHAR, b VARCHAR, match_weight DOUBLE, match_probability DOUBLE)"
    )
    records = con.execute("SELECT count(*) FROM stage.id_records WHERE NOT is_empty").fetchall()[0][
        0
    ]
    if not settings.enabled:
        return ScoringReport("skipped: switched off in the identity configuration")
    if records < settings.min_records:
        return ScoringReport(
            f"skipped: {records} records is too few to train on (min_records "
            f"{settings.min_records}); the deterministic rules alone decide"
        )
    started = time.monotonic()
    from splink import Linker

    # Splink warns about every level it could not train; the counts say what matters.
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _input_table(con, INPUT_VIEW, "TRUE")
    sampled = records > settings.train_records
    if sampled:
        # Parameters settle long before a million records: train on a sample chosen by a
        # hash of the record key (the same records every run), predict on everyone.
        share = max(1, int(1000 * settings.train_records / records))
        _input_table(con, TRAIN_VIEW, f"hash(record_key || '{settings.seed}') % 1000 < {share}")
    try:
        with _engine(con, settings) as (register, land):
            # Each table is registered once (a backend may take a name only once); every
            # Linker made is kept, so the tables Splink made are all dropped.
            inputs: dict[str, Any] = {}
            linkers: list[Any] = []

            def make_linker(table: str, model: object) -> Any:
                if table not in inputs:
                    inputs[table] = register(table)
                linkers.append(Linker(inputs[table], model, log_level=logging.ERROR))
                return linkers[-1]

            try:
                training_table = TRAIN_VIEW if sampled else INPUT_VIEW
                trained_on = _count(con, training_table)
                model = _train(lambda m: make_linker(training_table, m), settings, trained_on)
                log(
                    f"Probabilistic model trained on {trained_on} of {records} records "
                    f"(seed {settings.seed}, on {settings.backend})"
                )
                linker = make_linker(INPUT_VIEW, model)
                if sampled:
                    linker.training.estimate_probability_two_random_records_match(
                        _prior_rules(), recall=0.8
                    )
                land(
                    linker.inference.predict(threshold_match_probability=settings.review_threshold)
                )
            finally:
                for used in linkers:
                    used.table_management.delete_tables_created_by_splink_from_db()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {INPUT_VIEW}")
        con.execute(f"DROP TABLE IF EXISTS {TRAIN_VIEW}")
    pairs = con.execute(f"SELECT count(*) FROM {SCORED}").fetchall()[0][0]
    return ScoringReport("scored", pairs, time.monotonic() - started)
