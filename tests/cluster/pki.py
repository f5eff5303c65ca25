"""Certificates for a throw-away control plane: one CA, serving certificates for etcd and the API server
on 127.0.0.1, a client certificate per component identity, and the service-account signing key."""
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
# The API server's in-cluster names, so that the certificate is also valid for pods' clients.
APISERVER_NAMES = [x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default.svc")]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(folder: Path, name: str, key, cert: x509.Certificate | None = None) -> None:
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / f"{name}.key").chmod(0o600)
    if cert is not None:
        (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _certificate(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool = False,
                 sans: list | None = None, usages: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def create(folder: Path, clients: dict[str, tuple[str, str | None]]) -> Path:
    """Write ca.crt, etcd.{crt,key}, apiserver.{crt,key}, sa.{key,pub} and one <file>.{crt,key} per client
    (file -> (user, group)); returns the folder. Kubernetes takes the user from CN and groups from O."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_name = _key(), _name("nautilus-test-ca")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write(folder, "ca", ca_key, ca)
    server_usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    for name, sans in (("etcd", LOOPBACK), ("apiserver", LOOPBACK + APISERVER_NAMES)):
        key = _key()
        _write(folder, name, key, _certificate(_name(name), key, ca_name, ca_key, sans=sans, usages=server_usages))
    for name, (user, group) in clients.items():
        key = _key()
        cert = _certificate(_name(user, group), key, ca_name, ca_key, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])
        _write(folder, name, key, cert)
    sa = _key()  # signs service-account tokens (controller manager, API server); the API server verifies with sa.pub
    _write(folder, "sa", sa)
    (folder / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    return folder
