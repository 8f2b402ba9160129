"""The session's masker takes its exact values from the policy as docs/policy.md says."""

from __future__ import annotations

from hgate.policy.model import MaskPolicy
from hgate.session.masking import build_masker

KEY = b"k" * 32


def test_values_from_env_takes_globs_as_documented() -> None:
    """docs/policy.md: `values_from_env` is a "list of names or globs". Before, a glob
    was looked up as a variable name, found nothing, and the values went unmasked."""
    env = {
        "SYNTH_GLOB_A": "synthetic-glob-value-1",
        "SYNTH_GLOB_B": "synthetic-glob-value-2",
        "SYNTH_EXACT": "synthetic-exact-value-3",
        "OTHER": "synthetic-other-value-4",
        "SYNTH_SHORT": "abc",
    }
    policy = MaskPolicy(values_from_env=("SYNTH_GLOB_*", "SYNTH_EXACT", "SYNTH_SH?RT"))
    masker, _ = build_masker(policy, key=KEY, env=env, check=False)
    text = "a synthetic-glob-value-1 b synthetic-glob-value-2 c synthetic-exact-value-3"
    masked = masker.mask(f"{text} d synthetic-other-value-4 e abc").text
    for value in ("synthetic-glob-value-1", "synthetic-glob-value-2", "synthetic-exact-value-3"):
        assert value not in masked
    assert "synthetic-other-value-4" in masked, "a variable no entry names stays"
    assert masked.endswith(" e abc"), "values under 4 characters are never masked"
