"""Certificate-bound tokens (RFC 8705) in a real Envoy (docs/configuration.md, "Sender-constrained
tokens"): listeners with a TLS transport socket on 127.0.0.1, a CA, server and client certificates
made here by `cryptography`, and tokens whose `cnf["x5t#S256"]` is the SHA-256 of a client
certificate's DER, computed here. One listener requires a client certificate at the handshake,
the other accepts connections without one (so that "no certificate" reaches jwt-gate). Also:
DPoP over TLS, whose proofs must name `https` (the connection's scheme, read from Envoy)."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter
from jwt_gate_testkit.client import Response
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER, Keys, b64url

TLS = "envoy.transport_sockets.tls"
DOWNSTREAM_TLS = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)


@dataclass
class Identity:
    """A key and its certificate, as PEM, and the certificate's RFC 8705 thumbprint."""

    key_pem: str
    certificate_pem: str
    x5t_s256: str

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        certificate, key = directory / f"{name}.crt", directory / f"{name}.key"
        certificate.write_text(self.certificate_pem)
        key.write_text(self.key_pem)
        return certificate, key


class Authority:
    """A CA that signs a server certificate for 127.0.0.1 and client certificates."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt-gate test CA")])
        self.certificate = (
            self.builder(self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def builder(self, subject: x509.Name, public_key) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, common_name: str, server: bool = False) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = self.builder(subject, key.public_key())
        if server:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        der = certificate.public_bytes(serialization.Encoding.DER)
        return Identity(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            certificate.public_bytes(serialization.Encoding.PEM).decode(),
            b64url(hashlib.sha256(der).digest()),
        )


def plugin_config(keys: Keys) -> dict:
    """`bound` (certificate_bound) on /bound, `open` (no binding required) elsewhere, and a DPoP
    provider on /dpop: one issuer, keys es256."""

    def provider(**fields) -> dict:
        return {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("es256")},
            **fields,
        }

    return {
        "providers": {
            "bound": provider(certificate_bound=True),
            "open": provider(),
            "dpop": provider(dpop={"required": True, "algorithms": ["ES256"]}),
        },
        "rules": [
            {"match": {"prefix": "/bound"}, "requires": {"provider_name": "bound"}},
            {"match": {"prefix": "/dpop"}, "requires": {"provider_name": "dpop"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "open"}},
        ],
    }


@dataclass
class Gate:
    """The Envoy and what a client needs: the CA, two client identities, the two listeners."""

    envoy: Envoy
    ca_file: Path
    alice: Identity
    mallory: Identity
    files: dict[str, tuple[Path, Path]]
    required: Listener  # client certificate required at the handshake
    optional: Listener  # client certificate verified if sent


def tls_socket(server: Identity, ca: str, require_client_certificate: bool) -> dict:
    return {
        "name": TLS,
        "typed_config": {
            "@type": DOWNSTREAM_TLS,
            "require_client_certificate": require_client_certificate,
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"inline_string": server.certificate_pem},
                        "private_key": {"inline_string": server.key_pem},
                    }
                ],
                "validation_context": {"trusted_ca": {"inline_string": ca}},
            },
        },
    }


@pytest.fixture(scope="module")
def gate(keys, echo, build, tmp_path_factory) -> Gate:
    directory = tmp_path_factory.mktemp("mtls")
    authority = Authority()
    server = authority.issue("127.0.0.1", server=True)
    alice, mallory = authority.issue("alice"), authority.issue("mallory")
    ca_file = directory / "ca.crt"
    ca_file.write_text(authority.pem)
    config = plugin_config(keys)
    gate_filter = jwt_gate_filter(config, build=build)
    listeners = {"required": gate_filter, "optional": gate_filter}
    built = bootstrap(listeners, echo.port)
    for listener in built["static_resources"]["listeners"]:
        chain = listener["filter_chains"][0]
        chain["transport_socket"] = tls_socket(
            server, authority.pem, listener["name"] == "required"
        )
    with Envoy(built, "mtls") as envoy:
        yield Gate(
            envoy,
            ca_file,
            alice,
            mallory,
            {
                "alice": alice.write(directory, "alice"),
                "mallory": mallory.write(directory, "mallory"),
            },
            Listener(envoy, "required"),
            Listener(envoy, "optional"),
        )


def request(
    gate: Gate,
    listener: Listener,
    path: str,
    token: str | None,
    identity: str | None,
    scheme: str = "Bearer",
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """One HTTPS request on a fresh connection, with `identity`'s client certificate (None:
    none), the server verified against the test CA."""
    context = ssl.create_default_context(cafile=str(gate.ca_file))
    if identity is not None:
        certificate, key = gate.files[identity]
        context.load_cert_chain(str(certificate), str(key))
    connection = http.client.HTTPSConnection(
        "127.0.0.1", listener.port, context=context, timeout=10
    )
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", f"127.0.0.1:{listener.port}")
        if token is not None:
            connection.putheader("Authorization", f"{scheme} {token}")
        for name, value in headers or []:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def assert_invalid_token(
    gate: Gate, listener: Listener, response: Response, path: str, message: str, reason: str
) -> None:
    assert (response.status, response.text) == (401, message), response.text
    realm = f'Bearer realm="https://127.0.0.1:{listener.port}{path}"'
    assert response.header("www-authenticate") == f'{realm}, error="invalid_token"'
    stats = gate.envoy.gate_stats()
    assert stats.get(f"jwt_gate.denied_by_reason.{reason}", 0) >= 1, reason


def test_a_token_bound_to_the_client_certificate_passes(gate, keys):
    token = keys.mint("ES256", cnf={"x5t#S256": gate.alice.x5t_s256})
    for listener in (gate.required, gate.optional):
        for path in ("/bound", "/open"):
            response = request(gate, listener, path, token, "alice")
            assert response.status == 200, (listener.name, path, response.text)


def test_a_token_bound_to_another_certificate_is_refused(gate, keys):
    token = keys.mint("ES256", cnf={"x5t#S256": gate.mallory.x5t_s256})
    for path in ("/bound", "/open"):
        response = request(gate, gate.required, path, token, "alice")
        assert_invalid_token(
            gate,
            gate.required,
            response,
            path,
            "Jwt is bound to another client certificate",
            "certificate_mismatch",
        )


def test_a_bound_token_on_a_connection_without_a_certificate_is_refused(gate, keys):
    """Even where the provider does not require binding (`/open`)."""
    token = keys.mint("ES256", cnf={"x5t#S256": gate.alice.x5t_s256})
    for path in ("/bound", "/open"):
        response = request(gate, gate.optional, path, token, None)
        assert_invalid_token(
            gate,
            gate.optional,
            response,
            path,
            "Jwt is bound to a client certificate and the connection has none",
            "certificate_missing",
        )


def test_without_certificate_bound_a_bound_token_still_needs_its_certificate(
    keys, echo, build, tmp_path
):
    """A configuration jwt-gate before RFC 8705 also loads (no certificate_bound, no dpop): a
    token bound to a certificate is refused on a connection without it (that jwt-gate took it
    as a bearer token)."""
    authority = Authority()
    server = authority.issue("127.0.0.1", server=True)
    alice = authority.issue("alice")
    config = plugin_config(keys)
    config = {
        "providers": {"open": config["providers"]["open"]},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "open"}}],
    }
    built = bootstrap({"plain": jwt_gate_filter(config, build=build)}, echo.port)
    [listener] = built["static_resources"]["listeners"]
    listener["filter_chains"][0]["transport_socket"] = tls_socket(server, authority.pem, False)
    (tmp_path / "ca.crt").write_text(authority.pem)
    with Envoy(built, "mtls-plain") as envoy:
        plain = Gate(
            envoy,
            tmp_path / "ca.crt",
            alice,
            alice,
            {"alice": alice.write(tmp_path, "alice")},
            Listener(envoy, "plain"),
            Listener(envoy, "plain"),
        )
        token = keys.mint("ES256", cnf={"x5t#S256": alice.x5t_s256})
        response = request(plain, plain.optional, "/x", token, None)
        assert_invalid_token(
            plain,
            plain.optional,
            response,
            "/x",
            "Jwt is bound to a client certificate and the connection has none",
            "certificate_missing",
        )
        assert request(plain, plain.optional, "/x", token, "alice").status == 200


def test_certificate_bound_providers_refuse_unbound_tokens(gate, keys):
    token = keys.mint("ES256")
    response = request(gate, gate.required, "/bound", token, "alice")
    assert_invalid_token(
        gate,
        gate.required,
        response,
        "/bound",
        "Jwt is not bound to a client certificate",
        "certificate_binding_missing",
    )
    assert request(gate, gate.required, "/open", token, "alice").status == 200
    assert request(gate, gate.optional, "/open", token, None).status == 200


def test_no_client_certificate_no_connection_where_one_is_required(gate, keys):
    token = keys.mint("ES256", cnf={"x5t#S256": gate.alice.x5t_s256})
    with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout, http.client.HTTPException)):
        request(gate, gate.required, "/bound", token, None)


def dpop_proof(key, jwk: dict, htu: str, token: str) -> str:
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": "GET",
        "htu": htu,
        "iat": int(time.time()),
        "ath": b64url(hashlib.sha256(token.encode()).digest()),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})


def test_dpop_over_tls_names_https(gate, keys):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    text = "{" + ",".join(f'"{name}":"{value}"' for name, value in sorted(members.items())) + "}"
    token = keys.mint("ES256", cnf={"jkt": b64url(hashlib.sha256(text.encode()).digest())})
    port = gate.required.port
    for htu, status in (
        (f"https://127.0.0.1:{port}/dpop", 200),
        (f"http://127.0.0.1:{port}/dpop", 401),
    ):
        proof = dpop_proof(key, jwk, htu, token)
        response = request(gate, gate.required, "/dpop", token, "alice", "DPoP", [("DPoP", proof)])
        assert response.status == status, (htu, response.text)
