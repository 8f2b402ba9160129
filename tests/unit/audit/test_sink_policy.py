"""`transcript.sinks` in the policy: directory, s3 and http sinks and `on_sink_failure`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hgate.errors import ConfigError, PolicyError
from hgate.policy.loader import load_policy
from hgate.policy.model import SinkSettings, TranscriptSettings
from hgate.session.sinks import build_sink, sink_variables

HEAD = "version: 1\nname: t\n"


def _load(tmp_path: Path, transcript: str) -> TranscriptSettings:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + "transcript:\n" + transcript)
    return load_policy(path).transcript


def test_remote_sinks_with_their_keys(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """\
  on_sink_failure: continue
  sinks:
    - {type: directory, path: out}
    - type: s3
      bucket: acme-hipaa-evidence
      prefix: /ci/agents/
      region: us-east-2
      endpoint_url: http://127.0.0.1:9000
      object_lock_mode: GOVERNANCE
      retention_days: 30
      require_object_lock: false
      retries: 2
      backoff: 250ms
      timeout: 3s
      queue_size: 10
    - type: http
      url: https://collector.example/v1/segments
      token_env: EVIDENCE_TOKEN
""",
    )
    directory, s3, http = settings.sinks
    assert settings.on_sink_failure == "continue"
    assert directory == SinkSettings(type="directory", path="out")
    assert (s3.bucket, s3.prefix, s3.region, s3.endpoint_url) == (
        "acme-hipaa-evidence",
        "ci/agents",
        "us-east-2",
        "http://127.0.0.1:9000",
    )
    assert (s3.object_lock_mode, s3.retention_days, s3.require_object_lock) == (
        "GOVERNANCE",
        30,
        False,
    )
    assert (s3.retries, s3.backoff, s3.timeout, s3.queue_size) == (2, 0.25, 3.0, 10)
    assert (http.url, http.token_env, http.retries) == (
        "https://collector.example/v1/segments",
        "EVIDENCE_TOKEN",
        5,
    )
    assert sink_variables(settings) == ("AWS_*", "EVIDENCE_TOKEN")


def test_defaults_are_compliance_mode_six_years_and_stop(tmp_path: Path) -> None:
    settings = _load(tmp_path, "  sinks:\n    - {type: s3, bucket: evidence}\n")
    (s3,) = settings.sinks
    assert settings.on_sink_failure == "stop"
    assert (s3.prefix, s3.object_lock_mode, s3.retention_days, s3.require_object_lock) == (
        "hgate",
        "COMPLIANCE",
        2192,
        True,
    )
    assert sink_variables(TranscriptSettings()) == ()


@pytest.mark.parametrize(
    ("transcript", "message"),
    [
        ("  sinks:\n    - {type: http, bucket: b}\n", "'bucket' does not apply to a http sink"),
        ("  sinks:\n    - {type: directory, url: x}\n", "'url' does not apply to a directory"),
        ("  sinks:\n    - {type: s3}\n", "an s3 sink needs a bucket"),
        ("  sinks:\n    - {type: s3, bucket: Bad_Name}\n", "is not an S3 bucket name"),
        ("  sinks:\n    - {type: s3, bucket: b12, prefix: a/../b}\n", "may not contain '..'"),
        ("  sinks:\n    - {type: s3, bucket: b12, endpoint_url: x}\n", "must be an http"),
        ("  sinks:\n    - {type: s3, bucket: b12, object_lock_mode: x}\n", "expected one of"),
        ("  sinks:\n    - {type: s3, bucket: b12, retention_days: 0}\n", "at least 1"),
        ("  sinks:\n    - {type: http}\n", "an http sink needs a url"),
        ("  sinks:\n    - {type: http, url: 'http://c.example/'}\n", "clear text; use https"),
        ("  sinks:\n    - {type: http, url: 'https://c/', token_env: 'A-B'}\n", "not an env"),
        ("  sinks:\n    - {type: http, url: 'https://c/', retries: 99}\n", "at most 20"),
        ("  sinks:\n    - {type: ftp}\n", "expected one of directory, s3, http"),
        ("  sinks:\n    - {type: directory}\n    - {type: directory}\n", "at most one directory"),
        ("  on_sink_failure: ignore\n", "expected one of stop, continue"),
    ],
)
def test_sink_errors_name_the_place(tmp_path: Path, transcript: str, message: str) -> None:
    with pytest.raises(PolicyError, match=r"policy\.yaml:\d+:\d+: .*" + re.escape(message)):
        _load(tmp_path, transcript)


def test_an_http_sink_needs_its_token_variable(tmp_path: Path) -> None:
    settings = _load(tmp_path, "  sinks:\n    - {type: http, url: 'https://c.example/'}\n")
    with pytest.raises(ConfigError, match=r"needs its bearer token in \$HGATE_COLLECTOR_TOKEN"):
        build_sink(settings, tmp_path / "runs", env={})
    sink = build_sink(settings, tmp_path / "runs", env={"HGATE_COLLECTOR_TOKEN": "t0ken-value"})
    assert sink.remote_locations == ("https://c.example/",)
