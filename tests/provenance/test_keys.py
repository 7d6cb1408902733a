import logging
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from kino.cli import main
from kino.provenance import keys


def test_init_makes_a_chain_fit_for_c2pa(tmp_path):
    made = keys.init(tmp_path / "k")
    leaf, root = x509.load_pem_x509_certificates(made.chain_pem)
    assert root.public_bytes(serialization.Encoding.PEM) == made.root_pem
    assert leaf.issuer == root.subject and leaf.subject != root.subject  # not self-signed
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in list(eku)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki == ski
    root.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    assert 0 <= made.key_id < 2**32


def test_private_keys_are_0600_and_not_overwritten(tmp_path):
    folder = tmp_path / "k"
    first = keys.init(folder)
    for name in ("signer.key", "root.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    with pytest.raises(keys.KeysError, match="--force"):
        keys.init(folder)
    assert keys.load(folder).key_id == first.key_id
    assert keys.init(folder, force=True).key_id != first.key_id


def test_ensure_creates_on_first_use_and_says_so(tmp_path, caplog):
    folder = tmp_path / "fresh"
    with caplog.at_level(logging.WARNING, logger="kino.provenance.keys"):
        made = keys.ensure(folder)
    assert "created a local C2PA certificate chain" in caplog.text and str(folder) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kino.provenance.keys"):
        assert keys.ensure(folder).key_id == made.key_id
    assert caplog.text == ""


def test_default_dir_follows_the_environment(tmp_path):
    assert keys.default_dir({"KINO_KEYS_DIR": str(tmp_path)}) == tmp_path
    assert keys.default_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "kino" / "keys"


def test_cli_keys_init_refuses_to_overwrite(tmp_path, capsys):
    folder = tmp_path / "k"
    assert main(["keys", "init", "--dir", str(folder)]) == 0
    assert "key id" in capsys.readouterr().err
    assert main(["keys", "init", "--dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["keys", "init", "--dir", str(folder), "--force"]) == 0
    assert main(["keys", "show", "--dir", str(tmp_path / "none")]) == 2
