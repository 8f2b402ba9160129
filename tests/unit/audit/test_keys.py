from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hgate.audit import (
    default_key_dir,
    ensure_local_signer,
    generate_keypair,
    key_fingerprint,
    load_public_key,
    load_signer,
    load_signer_pem,
)
from hgate.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_writes_private_pem_0600_and_openssh_public_line(tmp_path: Path) -> None:
    paths = generate_keypair(tmp_path / "keys")
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(paths.private_key) == 0o600
    assert paths.private_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    algorithm, blob, comment = paths.public_key.read_text().split()
    assert (algorithm, comment) == ("ssh-ed25519", "hgate")
    assert blob.startswith("AAAA")
    assert paths.fingerprint == key_fingerprint(load_public_key(paths.public_key))
    assert not list((tmp_path / "keys").glob(".*.tmp"))


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_fingerprint_is_what_ssh_keygen_prints(tmp_path: Path) -> None:
    paths = generate_keypair(tmp_path)
    printed = subprocess.run(
        ["ssh-keygen", "-lf", str(paths.public_key)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed[1] == paths.fingerprint
    assert paths.fingerprint.startswith("SHA256:") and not paths.fingerprint.endswith("=")


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    first = generate_keypair(tmp_path)
    with pytest.raises(ConfigError, match=r"hgate.key already exists; refusing to overwrite"):
        generate_keypair(tmp_path)
    second = generate_keypair(tmp_path, overwrite=True)
    assert second.fingerprint != first.fingerprint
    assert load_signer(second.private_key).key_id == second.fingerprint


def test_refuses_when_only_the_public_key_exists(tmp_path: Path) -> None:
    (tmp_path / "hgate.pub").write_text("ssh-ed25519 AAAA x\n")
    with pytest.raises(ConfigError, match=r"hgate.pub already exists"):
        generate_keypair(tmp_path)


def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot write signing keys to .*file/keys"):
        generate_keypair(blocker / "keys")


def test_signer_signs_what_the_public_key_verifies(tmp_path: Path) -> None:
    paths = generate_keypair(tmp_path)
    signer = load_signer(paths.private_key)
    public = load_public_key(paths.public_key)
    public.verify(signer.sign(b"evidence"), b"evidence")
    assert signer.key_id == key_fingerprint(signer.public_key) == paths.fingerprint


def test_signer_repr_and_errors_never_show_key_material(tmp_path: Path) -> None:
    paths = generate_keypair(tmp_path)
    pem = paths.private_key.read_bytes()
    signer = load_signer_pem(pem)
    body = pem.decode().splitlines()[1]
    assert body not in repr(signer)
    broken = pem.replace(body.encode(), body[::-1].encode())
    with pytest.raises(ConfigError) as caught:
        load_signer_pem(broken, source="HGATE_SIGNING_KEY")
    assert body[::-1] not in str(caught.value)
    assert "HGATE_SIGNING_KEY" in str(caught.value)


def test_public_key_in_pem_form(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "k.pem").write_bytes(pem)
    assert key_fingerprint(load_public_key(tmp_path / "k.pem")) == key_fingerprint(key.public_key())


def test_openssh_private_key_is_accepted() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    assert load_signer_pem(pem).key_id == key_fingerprint(key.public_key())


def test_missing_key_file_says_which_and_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"signing key .*nope.key does not exist.*hgate keygen"):
        load_signer(tmp_path / "nope.key")
    with pytest.raises(ConfigError, match=r"public key .*nope.pub does not exist"):
        load_public_key(tmp_path / "nope.pub")


def test_directory_instead_of_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a directory"):
        load_signer(tmp_path)


def test_garbage_private_key(tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_bytes(b"not a key\n")
    with pytest.raises(ConfigError, match=r"bad.key is not a readable PEM or OpenSSH private"):
        load_signer(tmp_path / "bad.key")


def test_encrypted_private_key(tmp_path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(ConfigError, match=r"is encrypted"):
        load_signer_pem(pem, source="enc.key")


def test_rsa_keys_are_refused_by_type() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigError, match=r"is a RSA key; transcripts are signed with Ed25519"):
        load_signer_pem(pem, source="rsa.key")


def test_rsa_public_key_is_refused(tmp_path: Path) -> None:
    public = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "rsa.pub").write_bytes(line + b"\n")
    with pytest.raises(ConfigError, match=r"rsa.pub is a RSA key"):
        load_public_key(tmp_path / "rsa.pub")


def test_private_key_given_as_verification_key(tmp_path: Path) -> None:
    paths = generate_keypair(tmp_path)
    with pytest.raises(ConfigError, match=r"hgate.key is a private key; .*public key"):
        load_public_key(paths.private_key)


def test_garbage_public_key(tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("ssh-ed25519 !!!! hgate\n")
    with pytest.raises(ConfigError, match=r"bad.pub is neither an OpenSSH public key"):
        load_public_key(tmp_path / "bad.pub")


def test_default_key_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HGATE_HOME", str(tmp_path / "home"))
    assert default_key_dir() == tmp_path / "home"
    monkeypatch.delenv("HGATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_key_dir() == tmp_path / ".config" / "hgate"


def test_ensure_local_signer_creates_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HGATE_HOME", str(tmp_path / "h"))
    first, created = ensure_local_signer()
    assert created
    assert _mode(tmp_path / "h" / "hgate.key") == 0o600
    second, created_again = ensure_local_signer(tmp_path / "h")
    assert not created_again
    assert second.key_id == first.key_id
    assert sorted(os.listdir(tmp_path / "h")) == ["hgate.key", "hgate.pub"]


def test_a_local_key_others_can_read_is_refused(tmp_path: Path) -> None:
    ensure_local_signer(tmp_path)
    (tmp_path / "hgate.key").chmod(0o644)
    with pytest.raises(ConfigError, match=r"can be read by others \(mode 0644\)") as caught:
        ensure_local_signer(tmp_path)
    assert caught.value.remedy == f"chmod 600 {tmp_path / 'hgate.key'}"


def test_a_public_key_that_is_not_the_private_keys_half_is_refused(tmp_path: Path) -> None:
    """Else the run prints `verify with: --key hgate.pub`, and that verify fails."""
    ensure_local_signer(tmp_path / "a")
    ensure_local_signer(tmp_path / "b")
    (tmp_path / "a" / "hgate.pub").write_bytes((tmp_path / "b" / "hgate.pub").read_bytes())
    with pytest.raises(ConfigError, match="is not the public half of"):
        ensure_local_signer(tmp_path / "a")
