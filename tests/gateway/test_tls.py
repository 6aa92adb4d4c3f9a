"""``vaultgate serve --tls-cert --tls-key``: HTTPS with a certificate made at test time, TLS 1.2 at least,
and the official SDK trusting that certificate's CA."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaultgate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def test_serve_speaks_tls_the_sdk_trusts(tmp_path: Path) -> None:
    ca, cert, key_file = make_certificates(tmp_path)
    upstream = ThreadedServer(CaptureUpstream()).start()
    settings = Settings(data_dir=tmp_path / "data")
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice").token
    gateway = GatewayProcess(
        settings.data_dir,
        tmp_path / "gateway.log",
        args=("--tls-cert", str(cert), "--tls-key", str(key_file)),
        tls_ca=ca,
    )
    try:
        client = openai.OpenAI(
            base_url=gateway.url + "/v1",
            api_key=key,
            max_retries=0,
            http_client=httpx.Client(verify=ssl.create_default_context(cafile=str(ca))),
        )
        reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "over tls"}])
        assert reply.choices[0].message.content == "upstream says: over tls"
        client.close()  # an idle TLS connection would hold the server's shutdown (close_notify) until its timeout
        with pytest.raises(httpx.ConnectError):  # the CA is not trusted by default
            httpx.get(gateway.url + "/healthz")
        with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP to the TLS port
            httpx.get(f"http://127.0.0.1:{gateway.port}/healthz")
        context = ssl.create_default_context(cafile=str(ca))
        with (
            socket.create_connection(("127.0.0.1", gateway.port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        old = ssl.create_default_context(cafile=str(ca))
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", gateway.port)) as raw:
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        gateway.stop()
        upstream.stop()


def test_a_certificate_without_its_key_is_a_one_line_error(tmp_path: Path) -> None:
    _, cert, _ = make_certificates(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "vaultgate", "serve", "--data-dir", str(tmp_path), "--tls-cert", str(cert)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "vaultgate: error: TLS needs both a certificate and its key: --tls-cert and --tls-key"
    ]
