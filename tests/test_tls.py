"""HTTPS: ``platform-hub serve`` with a certificate and key speaks TLS 1.2 or 1.3, and nothing older."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from platform_hub.kit.settings import Settings
from platform_hub.kit.tls import TLS_FLOOR, floored_context, tls_options
from tests.helpers import hub_process


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a city's test CA would issue one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform-hub test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "hub.crt", folder / "hub.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _handshake(port: int, cert_file: Path, version: ssl.TLSVersion) -> str:
    """The version a client allowing only ``version`` agrees on with the hub (or ssl.SSLError)."""
    context = ssl.create_default_context(cafile=str(cert_file))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would speak old TLS: only the hub may refuse
    context.minimum_version = context.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return str(tls.version())


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")  # the old clients, on purpose
def test_the_hub_serves_https_with_tls_1_2_as_its_floor(settings: Settings, tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path)
    tls = settings.model_copy(update={"tls_certfile": cert_file, "tls_keyfile": key_file})
    with hub_process(tls) as hub:
        assert hub.url.startswith("https://")
        answer = httpx.get(f"{hub.url}/healthz", verify=ssl.create_default_context(cafile=str(cert_file)))
        assert answer.status_code == 200
        port = int(hub.url.rsplit(":", 1)[1])
        assert _handshake(port, cert_file, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        assert _handshake(port, cert_file, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            with pytest.raises(ssl.SSLError):
                _handshake(port, cert_file, old)
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port is no way in
            httpx.get(hub.url.replace("https", "http") + "/healthz", verify=False)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_the_floor_is_the_hubs_own_whatever_openssl_allows(tmp_path: Path) -> None:
    """The system's OpenSSL configuration might allow TLS 1.0; the hub's context does not."""

    def permissive() -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1
        return context

    assert floored_context(None, permissive).minimum_version == TLS_FLOOR == ssl.TLSVersion.TLSv1_2


def test_half_a_certificate_is_refused_before_serving(tmp_path: Path) -> None:
    cert_file, _ = _certificate(tmp_path)
    assert tls_options(None, None) == {}
    with pytest.raises(ValueError, match="both"):
        tls_options(cert_file, None)
    with pytest.raises(ValueError, match="no such file"):
        tls_options(cert_file, tmp_path / "missing.key")
    run = subprocess.run(
        [sys.executable, "-m", "platform_hub.cli", "serve", "--tls-certfile", str(cert_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "both a certificate file and its key file" in run.stdout + run.stderr
