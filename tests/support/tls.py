"""A test certificate authority (trustme) and server certificates for the loopback servers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

SERVER_NAMES = ["upstream.test", "oauth.test", "127.0.0.2", "127.0.0.3", "localhost"]


@dataclass
class TestPKI:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> TestPKI:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert(*SERVER_NAMES)
    ca_pem = folder / "ca.pem"
    cert_pem = folder / "server.pem"
    key_pem = folder / "server.key"
    ca.cert_pem.write_to_path(str(ca_pem))
    server.cert_chain_pems[0].write_to_path(str(cert_pem))
    for extra in server.cert_chain_pems[1:]:
        with open(cert_pem, "ab") as handle:
            handle.write(extra.bytes())
    server.private_key_pem.write_to_path(str(key_pem))
    return TestPKI(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem)
