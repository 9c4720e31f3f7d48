"""Creating our JetStream key-value buckets, replicated as the deployment says.

A bucket is a stream (``KV_<bucket>``); its replica count is the one setting a deployment
changes (1 on a single server, 3 on a three-node cluster: ``JETSTREAM_REPLICAS``). An existing
bucket with another count is scaled to it, so moving from one server to a cluster needs no
manual step. The other limits of a bucket that exists already are left as they are.
"""

from __future__ import annotations

import dataclasses
import logging

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import APIError, BucketNotFoundError
from nats.js.kv import KeyValue
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class BucketSettings(BaseSettings):
    """Env: ``JETSTREAM_REPLICAS``. Every process that opens a bucket must use the same value,
    or they will keep rescaling it (the event stream's own is ``EVENTS_REPLICAS``)."""

    model_config = SettingsConfigDict(env_prefix="JETSTREAM_", extra="ignore")

    replicas: int = Field(
        1, ge=1, le=5, description="Replicas of every key-value bucket (1 on a single server)."
    )


async def ensure_bucket(nc: Client, config: KeyValueConfig) -> KeyValue:
    """Open ``config.bucket``, creating it from ``config`` when it does not exist, and bring
    its replica count to ``config.replicas``."""
    js = nc.jetstream()
    try:
        kv = await js.key_value(config.bucket)
    except BucketNotFoundError:
        try:
            return await js.create_key_value(config)
        except APIError as exc:  # created by another process meanwhile: check it below
            log.debug("create bucket %s: %s", config.bucket, exc)
            kv = await js.key_value(config.bucket)
    stream = f"KV_{config.bucket}"
    info = await js.stream_info(stream)
    have = info.config.num_replicas or 1
    if have != config.replicas:
        await js.update_stream(dataclasses.replace(info.config, num_replicas=config.replicas))
        log.info("bucket %s: %d replicas (was %d)", config.bucket, config.replicas, have)
    return kv


async def open_bucket(nc: Client, bucket: str, ttl_s: float | None = None) -> KeyValue:
    """Open (creating it if need be) a bucket keeping one value per key, entries expiring
    after ``ttl_s`` when given, replicated as :class:`BucketSettings` says."""
    config = KeyValueConfig(bucket=bucket, history=1, ttl=ttl_s, replicas=BucketSettings().replicas)
    return await ensure_bucket(nc, config)
