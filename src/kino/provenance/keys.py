"""A local certificate chain for C2PA signing: a root CA and a leaf that signs kino's outputs.

C2PA validators refuse a self-signed signer; the leaf needs CA:false, the digitalSignature key usage,
an extended key usage from the C2PA list (emailProtection here), and an authority key id that
chains it to the root. Keys are ECDSA P-256 (C2PA's ES256).

Files in the keys folder::

    root.pem      the root certificate: the trust anchor a verifier needs
    root.key      the root's private key (0600), kept so a new leaf can be issued
    signer.pem    the leaf certificate followed by the root (the chain that goes into each manifest)
    signer.key    the leaf's private key (0600)
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

FILES = ("root.pem", "root.key", "signer.pem", "signer.key")
VALID_DAYS = 3650


class KeysError(Exception):
    """Keys are missing, unreadable, or would be overwritten."""


@dataclass(frozen=True)
class Keys:
    folder: Path
    chain_pem: bytes  # leaf, then root
    key_pem: bytes
    root_pem: bytes

    @property
    def key_id(self) -> int:
        """32-bit id of the signing key: the first 4 bytes of SHA-256 over its public key (DER)."""
        return key_id_of(x509.load_pem_x509_certificate(self.chain_pem))

    @property
    def serial(self) -> str:
        """The signing certificate's serial number, as C2PA readers print it (decimal)."""
        return str(x509.load_pem_x509_certificate(self.chain_pem).serial_number)

    @property
    def subject(self) -> str:
        return x509.load_pem_x509_certificate(self.chain_pem).subject.rfc4514_string()


def key_id_of(cert: x509.Certificate) -> int:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return int.from_bytes(hashlib.sha256(spki).digest()[:4], "big")


def default_dir(env) -> Path:
    """``KINO_KEYS_DIR``, else ``XDG_CONFIG_HOME/kino/keys``, else ``~/.config/kino/keys``; ``env`` is the
    environment the caller read (the CLI passes ``os.environ``)."""
    if env.get("KINO_KEYS_DIR"):
        return Path(env["KINO_KEYS_DIR"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "kino" / "keys"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kino (local)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign, crl_sign=not sign,
                         encipher_only=False, decipher_only=False)


def make_chain(common_name: str = "kino signer") -> tuple[bytes, bytes, bytes, bytes]:
    """(root.pem, root.key, signer.pem, signer.key) for a fresh root CA and leaf."""
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=VALID_DAYS)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("kino local root CA")
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(root_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    def pem(cert):
        return cert.public_bytes(serialization.Encoding.PEM)

    def private(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    return pem(root), private(root_key), pem(leaf) + pem(root), private(leaf_key)


def exists(folder: str | Path) -> bool:
    return any((Path(folder) / f).exists() for f in FILES)


def init(folder: str | Path, force: bool = False) -> Keys:
    """Create a new chain in ``folder``; refuses to replace existing keys unless ``force``."""
    folder = Path(folder)
    if exists(folder) and not force:
        raise KeysError(f"keys already exist in {folder}; pass --force to replace them")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, data in zip(FILES, make_chain()):
        _write(folder / name, data, private=name.endswith(".key"))
    return load(folder)


def _write(path: Path, data: bytes, private: bool) -> None:
    """Atomically, and for private keys with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(folder: str | Path) -> Keys:
    folder = Path(folder)
    missing = [f for f in FILES if f != "root.key" and not (folder / f).is_file()]
    if missing:
        raise KeysError(f"no signing keys in {folder} (missing {', '.join(missing)}); run: kino keys init")
    try:
        keys = Keys(folder, (folder / "signer.pem").read_bytes(), (folder / "signer.key").read_bytes(),
                    (folder / "root.pem").read_bytes())
        x509.load_pem_x509_certificate(keys.chain_pem)
        serialization.load_pem_private_key(keys.key_pem, password=None)
    except (OSError, ValueError) as e:
        raise KeysError(f"signing keys in {folder} are unreadable: {e}") from e
    return keys


def ensure(folder: str | Path) -> Keys:
    """The keys in ``folder``, created on first use so that a fresh machine can sign its first video."""
    folder = Path(folder)
    if not exists(folder):
        keys = init(folder)
        log.warning("no signing keys yet: created a local C2PA certificate chain in %s (key id %08x)",
                    folder, keys.key_id)
        return keys
    return load(folder)
