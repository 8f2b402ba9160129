"""Policy loading: every mistake is refused with its file:line:col; nothing is guessed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hgate.errors import PolicyError
from hgate.policy.loader import load_policy, shipped_policies_dir


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


MINIMAL = "version: 1\nname: t\n"


def test_minimal_policy_is_default_deny(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, MINIMAL))
    assert policy.identities == ()
    assert policy.mask.rules == ()
    assert policy.environment.remove == ()


def test_sha256_is_of_the_exact_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "# comment\n")
    assert load_policy(path).source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "version: 1\nname: t\nsesion: {}\n",
            ":3:1",
            r"unknown key 'sesion'.*did you mean 'session'",
        ),
        (
            "version: 1\nname: t\nsession:\n  max_duraton: 5s\n",
            ":4:3",
            r"unknown key 'max_duraton'",
        ),
        ("version: 1\nname: t\nname: u\n", ":3:1", r"duplicate key 'name'"),
        ("version: 2\nname: t\n", ":1:10", r"unsupported policy version 2"),
        ("name: t\n", ":1:1", r"missing required key 'version'"),
        ("version: 1\nname: t\nsession:\n  max_duration: soon\n", ":4:17", r"expected a duration"),
        ("version: 1\nname: t\nsession:\n  max_duration: -5\n", ":4:17", r"positive duration"),
        (
            "version: 1\nname: t\nmask:\n  rules:\n    - {name: a, kind: X, pattern: '(['}\n",
            ":5:35",
            r"invalid regular expression",
        ),
        (
            "version: 1\nname: t\nmask:\n  rules:\n    - {name: a, kind: X, pattern: 'a*'}\n",
            ":5:35",
            r"matches the empty string",
        ),
        (
            "version: 1\nname: t\nmask:\n  rules:\n    - {name: a, kind: lower, pattern: 'ab'}\n",
            ":5:23",
            r"kind 'lower' must be UPPER_CASE",
        ),
        (
            "version: 1\nname: t\nmask:\n  rules:\n    - {name: a, pattern: 'ab'}\n",
            ":5:7",
            r"missing required key 'kind'",
        ),
        (
            "version: 1\nname: t\nidentities:\n  - name: d\n    local: yes please\n",
            ":5:12",
            r"expected true or false",
        ),
        ("version: 1\nname: t\ntranscript:\n  sinks: []\n", ":4:10", r"at least one sink"),
        (
            "version: 1\nname: t\ntranscript:\n  sinks: [{type: ftp}]\n",
            ":4:18",
            r"expected one of directory",
        ),
        ("version: 1\nname: [a\n", ":3:1", r"YAML syntax error"),
        (
            "version: 1\nname: t\nenvironment:\n  remove: ['A B']\n",
            ":4:12",
            r"not an environment variable name",
        ),
        (
            "version: 1\nname: t\nmask:\n  values: [{kind: X, value: ab}]\n",
            ":4:29",
            r"at least 4 characters",
        ),
        ("version: 1\nname: t\ninclude: [missing.yaml]\n", ":3:11", r"'missing.yaml' not found"),
        ("- a\n- b\n", ":1:1", r"expected a mapping"),
        (
            "version: 1\nname: t\nsession:\n  max_duration: 10s\n  kill_grace: 1m\n",
            ":5:15",
            r"session\.kill_grace: 60s is longer than max_duration \(10s\)",
        ),
        (
            "version: 1\nname: t\nsession: {kill_grace: 2h}\n",
            ":3:23",
            r"session\.kill_grace: 7200s is longer than max_duration \(3600s\)",
        ),
        (  # before: accepted, and a stopped agent outlived the identity's 5s by 10s
            "version: 1\nname: t\nsession: {kill_grace: 10s}\nidentities:\n"
            "  - name: dev\n    local: true\n    grants: {max_duration: 5s}\n",
            ":7:28",
            r"identities\[0\]\.grants\.max_duration: 5s is shorter than session\.kill_grace "
            r"\(10s at .*policy\.yaml:3:23\)",
        ),
    ],
)
def test_errors_name_the_place_and_the_problem(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(path)
    assert info.value.location == f"{path}{where}"
    assert str(info.value).startswith(f"{path}{where}: ")


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(PolicyError, match="policy file is empty"):
        load_policy(write(tmp_path, "# nothing\n"))


def test_includes_merge_mask_rules_and_are_hashed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "version: 1\nmask:\n  rules:\n    - {name: a, kind: A, pattern: 'aaa'}\n",
        "base.yaml",
    )
    path = write(
        tmp_path,
        MINIMAL + "include: [base.yaml]\nmask:\n  rules:\n"
        "    - {name: b, kind: B, pattern: 'bbb'}\n",
    )
    policy = load_policy(path)
    assert [r.name for r in policy.mask.rules] == ["a", "b"]
    assert [s.path.name for s in policy.includes] == ["base.yaml"]
    assert (
        policy.includes[0].sha256
        == hashlib.sha256((tmp_path / "base.yaml").read_bytes()).hexdigest()
    )


def test_an_include_cannot_grant_anything(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\nidentities: [{name: x, local: true}]\n", "evil.yaml")
    path = write(tmp_path, MINIMAL + "include: [evil.yaml]\n")
    with pytest.raises(PolicyError, match="unknown key 'identities'") as info:
        load_policy(path)
    assert info.value.location == f"{tmp_path / 'evil.yaml'}:2:1"


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\ninclude: [b.yaml]\n", "a.yaml")
    write(tmp_path, "version: 1\ninclude: [a.yaml]\n", "b.yaml")
    with pytest.raises(PolicyError, match="include cycle"):
        load_policy(write(tmp_path, MINIMAL + "include: [a.yaml]\n"))


def test_durations_and_groups(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            MINIMAL
            + (
                "session: {max_duration: 10m, kill_grace: 250ms, idle_flush: 0.2}\n"
                "mask:\n  rules:\n    - {name: m, kind: MRN, pattern: 'MRN (\\d+)', group: 1}\n"
            ),
        )
    )
    assert policy.session.max_duration == 600.0
    assert policy.session.kill_grace == 0.25
    assert policy.session.idle_flush == 0.2
    assert policy.mask.rules[0].group == 1
    with pytest.raises(PolicyError, match="must be at most 1"):
        load_policy(
            write(
                tmp_path,
                MINIMAL
                + (
                    "mask:\n  rules:\n    - {name: m, kind: MRN, pattern: 'MRN (\\d+)', group: 2}\n"
                ),
            )
        )


@pytest.mark.parametrize("name", ["local.yaml", "hipaa-baseline.yaml"])
def test_shipped_policies_load(name: str) -> None:
    policy = load_policy(shipped_policies_dir() / name)
    assert policy.mask.detectors.enabled is None, "the baseline enables every detector"


def test_local_policy_admits_only_the_local_identity() -> None:
    policy = load_policy(shipped_policies_dir() / "local.yaml")
    assert [r.local for r in policy.identities] == [True]
    assert policy.mask.detectors.enabled is None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("version: 1\nname: !custom hi\n", ":2:7", r"unsupported YAML tag '!custom'"),
        (
            "version: 1\nname: !!python/object:os.system x\n",
            ":2:7",
            r"unsupported YAML tag '!!python/object:os.system'",
        ),
        (
            "version: 1\nname: t\nsession: {<<: {max_duration: 1m}}\n",
            ":3:11",
            r"merge keys \(<<\) are not supported",
        ),
        (
            "version: 1\nname: t\nbase: &b {max_duration: 1m}\nsession:\n  <<: *b\n",
            ":5:3",
            r"merge keys",
        ),
        ("version: 1\nname: t\nsession: !!set {max_duration}\n", ":3:10", r"tag '!!set'"),
        ("version: 1\nname: t\nenvironment: {remove: !list [A]}\n", ":3:23", r"tag '!list'"),
        ("version: 1\nname: !!int abc\n", ":2:7", r"'abc' cannot be read as a YAML int"),
        ("version: 1\nname: !!bool maybe\n", ":2:7", r"cannot be read as a YAML bool"),
        ("version: 1\nname: !!timestamp x\n", ":2:7", r"cannot be read as a YAML timestamp"),
    ],
)
def test_yaml_tags_and_merge_keys_are_policy_errors(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    """Before: `internal error: ConstructorError` (exit 70), or a tag silently ignored."""
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(path)
    assert info.value.location == f"{path}{where}"


def test_a_bare_equals_sign_is_text(tmp_path: Path) -> None:
    """YAML 1.1 resolves `=` to a "value" tag the safe constructor cannot build."""
    policy = load_policy(write(tmp_path, MINIMAL + "description: =\n"))
    assert policy.description == "="


DURATION_KEYS = {
    "session.max_duration": "session:\n  max_duration: {v}\n",
    "session.kill_grace": "session:\n  kill_grace: {v}\n",
    "session.idle_flush": "session:\n  idle_flush: {v}\n",
    "transcript.checkpoint_every_seconds": "transcript:\n  checkpoint_every_seconds: {v}\n",
    "transcript.sinks[0].backoff": "transcript:\n  sinks:\n"
    "    - {{type: http, url: 'http://127.0.0.1:9/x', backoff: {v}}}\n",
    "transcript.sinks[0].timeout": "transcript:\n  sinks:\n"
    "    - {{type: http, url: 'http://127.0.0.1:9/x', timeout: {v}}}\n",
    "issuers[0].max_token_age": "issuers:\n  - {{name: i, url: 'https://issuer.example', "
    "audience: a, max_token_age: {v}}}\n",
    "issuers[0].leeway": "issuers:\n  - {{name: i, url: 'https://issuer.example', "
    "audience: a, leeway: {v}}}\n",
    "identities[0].grants.max_duration": "identities:\n  - name: d\n    local: true\n"
    "    grants: {{max_duration: {v}}}\n",
    "identities[0].grants.database.statement_timeout": "identities:\n  - name: d\n"
    "    local: true\n    grants:\n      database:\n        name: db\n"
    "        tables: [{{table: t, privileges: [SELECT]}}]\n        statement_timeout: {v}\n",
    "database.approval_timeout": "database:\n  approval_timeout: {v}\n",
}


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf", "99999999999999h", "9" * 400])
@pytest.mark.parametrize("key", sorted(DURATION_KEYS))
def test_durations_must_be_finite_and_bounded(tmp_path: Path, key: str, value: str) -> None:
    """Before: accepted by `policy check`, then OverflowError/ValueError in `hgate run`."""
    path = write(tmp_path, MINIMAL + DURATION_KEYS[key].format(v=value))
    with pytest.raises(PolicyError, match=r"duration|at most") as info:
        load_policy(path)
    assert info.value.location is not None and info.value.location.startswith(f"{path}:")
    assert info.value.message.startswith(f"{key}: "), info.value.message


def test_the_longest_durations_still_load(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, MINIMAL + "session: {max_duration: 8784h}\n"))
    assert policy.session.max_duration == 366 * 86400.0
    with pytest.raises(PolicyError, match=r"at most 366 days"):
        load_policy(write(tmp_path, MINIMAL + "session: {max_duration: 8785h}\n"))
    limit = DURATION_KEYS["identities[0].grants.database.statement_timeout"]
    with pytest.raises(PolicyError, match=r"at most 2147483s, found '600h' \(PostgreSQL's limit"):
        load_policy(write(tmp_path, MINIMAL + limit.format(v="600h")))


def test_non_utf8_policy_names_line_and_column(tmp_path: Path) -> None:
    """Before: `policy is not valid UTF-8 (byte 19)` with no line."""
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"version: 1\nname: caf\xc3\xa9 \xff\n")
    with pytest.raises(PolicyError, match="not valid UTF-8") as info:
        load_policy(path)
    assert info.value.location == f"{path}:2:12"


def test_a_directory_is_not_a_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="a directory, not a policy file") as info:
        load_policy(tmp_path)
    assert info.value.location == str(tmp_path)


def test_mask_all_urls_is_kept_and_cannot_be_switched_off_by_a_later_file(
    tmp_path: Path,
) -> None:
    """Before: accepted by the loader, then dropped by `_merge_masks`."""
    from hgate.mask.detectors.url import UrlDetector
    from hgate.session.masking import build_masker

    own = load_policy(
        write(tmp_path, MINIMAL + "mask:\n  detectors: {enable: all, mask_all_urls: true}\n")
    )
    assert own.mask.detectors.mask_all_urls is True
    write(tmp_path, "version: 1\nmask:\n  detectors: {mask_all_urls: true}\n", "urls.yaml")
    merged = load_policy(
        write(
            tmp_path,
            MINIMAL + "include: [urls.yaml]\n"
            "mask:\n  detectors: {enable: [URL], mask_all_urls: false}\n",
        )
    )
    assert merged.mask.detectors.mask_all_urls is True
    masker, _ = build_masker(merged.mask, key=b"k" * 32, env={}, check=False)
    assert "example.com" not in masker.mask("docs at https://example.com/guide/page").text
    default = load_policy(write(tmp_path, MINIMAL + "mask:\n  detectors: {enable: [URL]}\n"))
    plain, _ = build_masker(default.mask, key=b"k" * 32, env={}, check=False)
    assert "https://example.com/guide/page" in plain.mask("at https://example.com/guide/page").text
    assert UrlDetector(mask_all=True).mask_all


def test_only_a_regular_file_of_sane_size_is_read(tmp_path: Path) -> None:
    """A FIFO would hang the check (opening it waits for a writer), /dev/zero would eat
    memory, and a policy of megabytes is a mistake: each is one line, exit 65."""
    fifo = tmp_path / "policy.yaml"
    os.mkfifo(fifo)
    for path, message in (
        (fifo, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
    ):
        with pytest.raises(PolicyError, match=message):
            load_policy(path)
    big = tmp_path / "big.yaml"
    big.write_text("# synthetic filler\n" * 60_000)
    with pytest.raises(PolicyError, match="larger than 1024 KiB"):
        load_policy(big)


def test_the_default_grace_of_a_short_session_is_the_session(tmp_path: Path) -> None:
    """Only a kill_grace written longer than max_duration is an error; the 5s default is
    cut to a shorter session's length (a 2s session stays valid)."""
    path = tmp_path / "short.yaml"
    path.write_text("version: 1\nname: t\nsession: {max_duration: 2s}\n")
    session = load_policy(path).session
    assert (session.max_duration, session.kill_grace) == (2.0, 2.0)


def test_the_default_kill_grace_is_not_an_error_under_a_short_grant(tmp_path: Path) -> None:
    """Only a written kill_grace conflicts; the default one is cut at run time."""
    policy = load_policy(
        write(
            tmp_path,
            MINIMAL
            + "identities:\n  - name: dev\n    local: true\n    grants: {max_duration: 2s}\n",
        )
    )
    assert policy.session.kill_grace == 5.0 and policy.identities[0].grants.max_duration == 2.0


@pytest.mark.parametrize(
    "detectors",
    [
        "{enable: [SSN], mask_all_urls: true}",
        "{enable: all, disable: [URL], mask_all_urls: true}",
        "{mask_all_urls: true}",
    ],
)
def test_mask_all_urls_without_the_url_kind_is_refused(tmp_path: Path, detectors: str) -> None:
    """docs/policy.md: it "needs the URL kind enabled". Before: accepted, and no URL was
    masked at all, a setting that silently did nothing."""
    path = write(tmp_path, MINIMAL + f"mask:\n  detectors: {detectors}\n")
    with pytest.raises(PolicyError, match="mask_all_urls needs the URL kind") as info:
        load_policy(path)
    assert info.value.location is not None and info.value.location.startswith(f"{path}:4:")


def test_mask_all_urls_from_an_include_is_checked_against_the_merged_kinds(
    tmp_path: Path,
) -> None:
    write(tmp_path, "version: 1\nmask:\n  detectors: {mask_all_urls: true}\n", "urls.yaml")
    base = MINIMAL + "include: [urls.yaml]\nmask:\n  detectors: "
    assert load_policy(write(tmp_path, base + "{enable: [URL]}\n")).mask.detectors.mask_all_urls
    with pytest.raises(PolicyError, match="mask_all_urls needs the URL kind") as info:
        load_policy(write(tmp_path, base + "{enable: [SSN]}\n"))
    assert info.value.location is not None and "urls.yaml:3:" in info.value.location


def test_an_exact_value_written_unquoted_is_refused_without_showing_it(tmp_path: Path) -> None:
    """A mask value is a value to hide: its error (also a PR annotation) names the place."""
    path = tmp_path / "values.yaml"
    path.write_text(
        "version: 1\nname: t\nmask:\n  values:\n    - {kind: CARD, value: 4111111111111111}\n"
    )
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    shown = str(raised.value)
    assert "expected a quoted string" in shown and ":5:" in shown
    assert "4111111111111111" not in shown, "the value is in the message"
