"""Fixtures of the fault drills: one private PostgreSQL cluster (with a migrated template
database) and one private Redis for all the drills, and for each module a database of its own
copied from the template, Redis flushed, and the environment of production processes on them.

The drills never touch the PostgreSQL and Redis the rest of the suite shares."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from tests.drills.stack import (
    TEMPLATE_DB,
    PrivatePostgres,
    PrivateRedis,
    Stack,
    manage,
    production_env,
)

CACHE_DB, BROKER_DB = 0, 1


@pytest.fixture(scope="package")
def drill_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def drill_postgres(drill_redis, pki, tmp_path_factory) -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.create_database(TEMPLATE_DB)
        env = production_env(
            database_url=cluster.url(TEMPLATE_DB), redis_url=drill_redis.url(CACHE_DB),
            broker_url=drill_redis.url(BROKER_DB), ca_pem=pki.ca_pem,
            folder=tmp_path_factory.mktemp("drill-template"),
        )  # fmt: skip
        manage(env, "migrate", "--noinput")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def stack(drill_postgres, drill_redis, pki, tmp_path_factory) -> Iterator[Stack]:
    if drill_redis.proc is None or drill_redis.proc.poll() is not None:
        drill_redis.start()  # a failed drill may have left it stopped
    drill_redis.client().flushall()
    database = f"drill_{uuid.uuid4().hex[:8]}"
    drill_postgres.create_database(database, template=TEMPLATE_DB)
    folder = tmp_path_factory.mktemp("drill")
    env = production_env(
        database_url=drill_postgres.url(database), redis_url=drill_redis.url(CACHE_DB),
        broker_url=drill_redis.url(BROKER_DB), ca_pem=pki.ca_pem, folder=folder,
    )  # fmt: skip
    stack = Stack(postgres=drill_postgres, redis=drill_redis, database=database, env=env,
                  folder=folder)  # fmt: skip
    try:
        yield stack
    finally:
        stack.stop()
        with contextlib.suppress(Exception), drill_postgres.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
