"""HTTPS (with a private CA and mutual TLS) and IPv6 agents, against the simulator on loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.client import AgentClient, HttpClient
from fleet.errors import ConnectError, ConnectionLost
from fleet.models import HostSpec, Limits, Secret, Timeouts, TlsSpec
from fleet.protocol.ids import parse_odp_generic_id
from fleet.simulator.cli import server_tls
from fleet.simulator.server import Simulator
from fleet.simulator.settings import SimConfig

PASSWORD = "fleet-sim-password"
TLS_IP = "127.47.0.1"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
          issuer_key: ec.EllipticCurvePrivateKey | None, *, ca: bool = False,
          ip: str | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private CA, a server certificate for the agent's IP, and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM
    files = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("fleet test CA", ca_key, None, None, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("some other CA", other_key, None, None, ca=True)
    files["ca"] = _write(d / "ca.pem", ca.public_bytes(pem))
    files["other_ca"] = _write(d / "other-ca.pem", other_ca.public_bytes(pem))
    for name, ip in (("server", TLS_IP), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, key, ca, ca_key, ip=ip)
        files[name] = _write(d / f"{name}.pem", cert.public_bytes(pem))
        files[f"{name}_key"] = _write(d / f"{name}-key.pem", key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


@pytest_asyncio.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(Limits(), Timeouts(connect=2.0, request=5.0)) as client:
        yield client


async def test_https_with_mutual_tls_starts_odp(pki: dict[str, str], http: HttpClient) -> None:
    """An agent serving HTTPS that requires client certificates: with the CA bundle and the
    client certificate the start succeeds; without the certificate, or trusting another CA,
    the connection fails cleanly (no request reaches the agent)."""
    ctx = server_tls(pki["server"], pki["server_key"], pki["ca"])
    async with Simulator(SimConfig(), agents=1, base_ip=TLS_IP, port=28862, ssl_context=ctx) as sim:
        good = TlsSpec(ca_file=pki["ca"], client_cert=pki["client"], client_key=pki["client_key"])
        host = HostSpec(name="tls-agent", address=TLS_IP, port=28862, scheme="https", tls=good)
        client = AgentClient(http, host, Secret(PASSWORD))
        assert (await client.info()).data.ip == TLS_IP
        dag = (await client.start_obproxy()).data
        assert dag.name == "Start obproxy"
        no_cert = HostSpec(name="tls-agent", address=TLS_IP, port=28862, scheme="https",
                           tls=TlsSpec(ca_file=pki["ca"]))
        with pytest.raises((ConnectError, ConnectionLost)):
            await AgentClient(http, no_cert, Secret(PASSWORD)).info()
        wrong_ca = HostSpec(name="tls-agent", address=TLS_IP, port=28862, scheme="https",
                            tls=TlsSpec(ca_file=pki["other_ca"], client_cert=pki["client"],
                                        client_key=pki["client_key"]))
        with pytest.raises(ConnectError, match="TLS"):
            await AgentClient(http, wrong_ca, Secret(PASSWORD)).info()
        assert sim.state()["agents"][f"{TLS_IP}:28862"]["requests"] == {
            "GET /api/v1/info": 1, "GET /api/v1/secret": 1, "POST /api/v1/obproxy/start": 1}


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="this machine has no IPv6 loopback")
async def test_ipv6_agent_gets_a_bracketed_url_and_a_prefix_5_dag_id(http: HttpClient) -> None:
    """An agent on ::1 is reached as http://[::1]:port; its ODP DAG ids carry prefix 5 and the
    39-digit address, and polling them works."""
    async with Simulator(SimConfig(), agents=1, base_ip="::1", port=28863):
        host = HostSpec(name="v6", address="::1", port=28863)
        assert host.base_url == "http://[::1]:28863"
        client = AgentClient(http, host, Secret(PASSWORD))
        dag = (await client.start_obproxy()).data
        assert dag.id.startswith("5") and parse_odp_generic_id(dag.id) == ("::1", 28863, dag.dag_id)
        assert (await client.get_dag(dag.id)).data.id == dag.id
