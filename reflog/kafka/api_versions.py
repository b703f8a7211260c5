"""ApiVersions (PRO-2, PRO-73): the table of served versions, and KIP-511's client names.

From v3 (the first flexible version) the request names the client software
(``client_software_name``, ``client_software_version``); Kafka's ``ApiVersionsRequest.isValid``
requires each to match ``[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?``, and a request that does
not is answered ``INVALID_REQUEST`` (42) with no table, as Kafka does. A version above the table
never reaches this handler: the listener answers it in the v0 format with
``UNSUPPORTED_VERSION`` and the table (:func:`reflog.kafka.codec.unsupported_api_versions_response`).
"""

from __future__ import annotations

import re
from typing import Final

from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.versions import ADVERTISED, ApiKey

SOFTWARE_NAME: Final = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")
"""Kafka's ``ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN``, matched in full."""
NAMES_FROM: Final = 3
"""The first ApiVersions version carrying the client's software name and version (KIP-511)."""


def valid_client_software(version: int, body: KafkaMessage) -> bool:
    """Whether the request's client software name and version are valid (always, below v3)."""
    if version < NAMES_FROM:
        return True
    name, software_version = body.client_software_name, body.client_software_version
    return all(isinstance(v, str) and SOFTWARE_NAME.fullmatch(v) for v in (name, software_version))


async def api_versions(version: int, body: KafkaMessage) -> KafkaMessage:
    """The ApiVersions response at ``version``: the table, or ``INVALID_REQUEST`` and none."""
    cls = response_class(ApiKey.API_VERSIONS, version)
    if not valid_client_software(version, body):
        return cls(error_code=int(Errors.INVALID_REQUEST), api_keys=[], throttle_time_ms=0)
    keys = [
        cls.ApiVersion(api_key=int(k), min_version=lo, max_version=hi) for k, (lo, hi) in ADVERTISED.items()
    ]
    return cls(error_code=0, api_keys=keys, throttle_time_ms=0)


__all__ = ["NAMES_FROM", "SOFTWARE_NAME", "api_versions", "valid_client_software"]
