"""The credentials the function writes to the stream with, by the config's `credentials.mode`.

- executionRole: the default chain (on Lambda, the function's own role).
- assumeRole: botocore's own assume-role machinery, with the external id: credentials are
  fetched on first use and refreshed before they expire.
- accessKey: a key pair read from Secrets Manager (never from the config, the environment or
  the code), refreshed every few minutes so that a rotated secret is picked up without a deploy.

Either way the result is a boto3 Session whose clients sign with the right credentials, so the
writer and the connection check need not know which mode is in use.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)

from .config import AccessKey, AssumeRole, DestinationConfig

# botocore refreshes credentials once fewer than 15 minutes of their life remain; a life of 20
# minutes makes that every 5 minutes: how soon a rotated access key is picked up.
_ACCESS_KEY_REFRESH = timedelta(minutes=5)
_BOTOCORE_ADVISORY_REFRESH = timedelta(minutes=15)


class SecretError(RuntimeError):
    """The access key secret cannot be read or does not hold a key pair."""


class _Fixed(CredentialProvider):
    """Hands botocore's credential chain one ready credentials object."""

    METHOD = "kinesis-export"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


# Short timeouts, and no retries inside botocore: the writer retries itself, per entry, within
# the invocation's deadline. These bound each connect and each read; the deadline bounds a call
# as a whole (deadline.Calls), so a slow answer costs a retry round, never the invocation.
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 3


def kinesis_client(
    config: DestinationConfig, region: str | None, connections: int = 10, session: boto3.Session | None = None
) -> Any:
    """A Kinesis client with the destination's credentials, in the stream's region.

    botocore resolves its endpoint with all its rules (AWS_ENDPOINT_URL_KINESIS, FIPS, dual-stack,
    partitions). Its parameters are not validated: this package's code makes every request, from a
    validated config.
    """
    client_config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": 1},
        max_pool_connections=connections,
        parameter_validation=False,
    )
    session = session or session_for(config)
    return session.client("kinesis", region_name=config.stream.region or region, config=client_config)


def aws_region() -> str | None:
    """The region as the AWS SDKs and CLI resolve it: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's.

    botocore reads only the last two; a shell often sets only AWS_REGION (Lambda sets both).
    """
    return os.environ.get("AWS_REGION") or botocore.session.get_session().get_config_variable("region")


def session_for(config: DestinationConfig) -> boto3.Session:
    """A boto3 Session signing with the destination's credentials, in the region of `aws_region`."""
    credentials = config.credentials
    if isinstance(credentials, AssumeRole):
        return _session_with(_assumed_role(credentials, config.name))
    if isinstance(credentials, AccessKey):
        return _session_with(_access_key(credentials))
    return boto3.Session(region_name=aws_region())


def _session_with(credentials: Credentials) -> boto3.Session:
    session = _botocore_session()
    session.get_component("credential_provider").insert_before("env", _Fixed(credentials))
    return boto3.Session(botocore_session=session)


def _botocore_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    if region := aws_region():
        session.set_config_variable("region", region)
    return session


def _assumed_role(credentials: AssumeRole, destination: str) -> Credentials:
    # The role is assumed with the function's own credentials (the default chain).
    source = _botocore_session()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source.create_client,
        source_credentials=source.get_credentials(),
        role_arn=credentials.role_arn,
        extra_args={"ExternalId": credentials.external_id, "RoleSessionName": f"kinesis-export-{destination}"},
    )
    return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")


def _access_key(credentials: AccessKey) -> Credentials:
    region = credentials.secret_arn.split(":")[3]
    secrets = boto3.Session().client("secretsmanager", region_name=region)

    def fetch() -> dict[str, Any]:
        value = secrets.get_secret_value(SecretId=credentials.secret_arn)
        try:
            secret = json.loads(value["SecretString"])
            key_id, secret_key = secret["accessKeyId"], secret["secretAccessKey"]
        except (KeyError, TypeError, ValueError):
            key_id = secret_key = None
        if not (isinstance(key_id, str) and isinstance(secret_key, str) and key_id and secret_key):
            # Never the value itself in the message: it is the key.
            raise SecretError(
                f"secret {credentials.secret_arn} must be JSON with accessKeyId and secretAccessKey (two strings)"
            )
        expiry = datetime.now(UTC) + _BOTOCORE_ADVISORY_REFRESH + _ACCESS_KEY_REFRESH
        return {"access_key": key_id, "secret_key": secret_key, "token": None, "expiry_time": expiry.isoformat()}

    return DeferredRefreshableCredentials(refresh_using=fetch, method="secrets-manager")
