"""Options of the directory and sftp destinations as Lemur validates them: wrong values are
refused with the option named and a plain-words reason, before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from lemur.builtin.files import DirectoryDestination, SFTPDestination
from lemur.errors import InvalidInput
from lemur.plugins.options import validate_options

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK+3oc4FXY7ZbmdOXGUWaTKqxpXDZwYarrDHlhekyoDa"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n"


def directory_error(**options: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_options(DirectoryDestination.Options, {"directory": "/srv/certs", **options})
    return caught.value


def sftp_values(**changes: Any) -> dict[str, Any]:
    values = {
        "host": "files.example.test",
        "username": "deployer",
        "private_key": KEY,
        "host_key": HOST_KEY,
        "directory": "/srv/certs",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def sftp_error(**changes: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_options(SFTPDestination.Options, sftp_values(**changes))
    return caught.value


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.pem", "stay inside the directory"),
        ("certs/../../x.pem", "stay inside the directory"),
        ("./x.pem", "stay inside the directory"),
        ("a//x.pem", "stay inside the directory"),
        ("/etc/ssl/x.pem", "not an absolute path"),
        ("x\0.pem", "control characters"),
        ("x\n.pem", "control characters"),
    ],
)
@pytest.mark.parametrize("field", ["certificate_file", "chain_file", "fullchain_file", "key_file"])
def test_file_names_must_stay_inside_the_directory(field: str, name: str, reason: str) -> None:
    for error in (directory_error(**{field: name}), sftp_error(**{field: name})):
        assert error.field == f"options.{field}"
        assert reason in error.message


def test_defaults_and_disabled_files() -> None:
    options = DirectoryDestination.Options(directory="/srv/certs/")
    assert options.directory == "/srv/certs"
    assert options.named_files() == [
        ("certificate_file", "cert.pem"),
        ("chain_file", "chain.pem"),
        ("fullchain_file", "fullchain.pem"),
        ("key_file", "key.pem"),
    ]
    assert (options.file_mode, options.key_mode, options.reload_timeout) == ("0644", "0600", 30)
    only = DirectoryDestination.Options(
        directory="/srv", certificate_file="", chain_file=None, key_file="private/site.key"
    )
    assert only.named_files() == [
        ("fullchain_file", "fullchain.pem"),
        ("key_file", "private/site.key"),
    ]


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        (
            {"certificate_file": "", "chain_file": "", "fullchain_file": "", "key_file": ""},
            "options",
            "at least one file",
        ),
        ({"chain_file": "cert.pem"}, "options", "its own name"),
        ({"key_file": "cert.pem.previous"}, "options", ".previous"),
        ({"key_mode": "0644"}, "options", "must not be accessible to others"),
        ({"file_mode": "0666"}, "options.file_mode", "writable by others"),
        ({"file_mode": "4644"}, "options.file_mode", "setuid"),
        ({"file_mode": "rw-r--r--"}, "options.file_mode", "octal"),
        ({"reload_timeout": 0}, "options.reload_timeout", "greater than 0"),
    ],
)
def test_file_sets_are_consistent(options: dict[str, Any], field: str, reason: str) -> None:
    for error in (directory_error(**options), sftp_error(**options)):
        assert error.field == field
        assert reason in error.message


@pytest.mark.parametrize("directory", ["srv/certs", "/srv/../etc", "/srv/\0"])
def test_the_directory_is_absolute(directory: str) -> None:
    for error in (directory_error(directory=directory), sftp_error(directory=directory)):
        assert error.field == "options.directory"


def test_a_local_reload_command_is_an_argument_list_never_a_shell() -> None:
    as_text = DirectoryDestination.Options(
        directory="/srv", reload_command="/usr/sbin/nginx -s reload -g 'pid /run/x.pid;'"
    )
    assert as_text.reload_command == ["/usr/sbin/nginx", "-s", "reload", "-g", "pid /run/x.pid;"]
    listed = DirectoryDestination.Options(directory="/srv", reload_command=["a; b", "$X"])
    assert listed.reload_command == ["a; b", "$X"]
    assert (
        DirectoryDestination.Options(directory="/srv", reload_command="  ").reload_command is None
    )
    assert "split the command" in directory_error(reload_command="nginx 'unclosed").message
    assert directory_error(reload_command=[""]).field == "options.reload_command"


@pytest.mark.parametrize("owner", ["root;", "-x", "a b"])
def test_owner_and_group_are_names_or_numbers(owner: str) -> None:
    assert directory_error(owner=owner).field == "options.owner"
    assert directory_error(group=owner).field == "options.group"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"host_key": "ssh-ed25519 not-base64!"}, "options.host_key", "base64"),
        ({"host_key": "ssh-dss AAAAB3NzaC1kc3M="}, "options.host_key", "public key line"),
        (
            {"host_key": "ssh-rsa " + HOST_KEY.split()[1]},
            "options.host_key",
            "ssh-ed25519 key, not ssh-rsa",
        ),
        ({"host": "https://files.example.test"}, "options.host", "without scheme"),
        ({"host": "user@files"}, "options.host", "without scheme"),
        ({"port": 0}, "options.port", "greater than or equal to 1"),
        ({"password": "pw-1"}, "options", "either private_key or password"),
        ({"private_key": None}, "options", "either private_key or password"),
        ({"private_key": "ssh-ed25519 AAAA"}, "options", "PEM or OpenSSH private key"),
        (
            {"private_key": None, "password": "pw-1", "private_key_passphrase": "p"},
            "options",
            "only with private_key",
        ),
    ],
)
def test_sftp_connection_options(changes: dict[str, Any], field: str, reason: str) -> None:
    error = sftp_error(**changes)
    assert error.field == field
    assert reason in error.message
    assert "pw-1" not in error.message


def test_a_pinned_key_is_kept_as_its_type_and_key() -> None:
    options = SFTPDestination.Options.model_validate(
        sftp_values(host_key=f"[files.example.test]:2222 {HOST_KEY} root@files")
    )
    assert options.host_key == HOST_KEY
    assert options.port == 22
    assert options.trust_on_first_use is False
    assert SFTPDestination.Options.model_validate(sftp_values(host="[::1]")).host == "::1"
