"""Secrets: tokens with a known shape, passwords in URLs and assignments, keyed secrets.

Shapes: JWTs, AWS access key ids, GitHub/GitLab/Slack/npm/PyPI/Stripe/Google/OpenAI
style tokens, `Bearer` credentials, one-line PEM private keys (multi-line key blocks:
see tables.KeyBlockDetector). A value assigned to a password-like key is masked whatever
it looks like (placeholders aside); under other secret-like keys (`token`, `api_key`) it
must look random (high entropy), so `max_tokens=512` stays.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from hgate.mask.context import is_placeholder, is_reference, is_working_directory
from hgate.mask.fields import key_start
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["SecretDetector", "entropy"]

# (bounded candidate prefix for the engine, the whole shape checked from its start)
_SHAPES = (
    (r"\beyJ[A-Za-z0-9_-]{8}", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b", r"[A-Z0-9]{20}"),
    (r"\bgh[pousr]_[A-Za-z0-9]{36}", r"gh[pousr]_[A-Za-z0-9]{36,}\b"),
    (r"\bgithub_pat_[A-Za-z0-9_]{60}", r"github_pat_[A-Za-z0-9_]{60,}\b"),
    (
        r"\bgl(?:pat|ptt|rt|dt|oas|cbt|imt|ft|soat)-[A-Za-z0-9_-]{20}",
        r"gl[a-z]+-[A-Za-z0-9_-]{20,}",
    ),
    (r"\bxox[abposr]-[A-Za-z0-9-]{10}", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    (r"hooks\.slack\.com/services/T", r"hooks\.slack\.com/services/T[A-Za-z0-9/]+"),
    (r"\bnpm_[A-Za-z0-9]{36}\b", r"npm_[A-Za-z0-9]{36}"),
    (r"\bpypi-AgE[A-Za-z0-9_-]{50}", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    (r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20}", r"[rs]k_(?:live|test)_[A-Za-z0-9]{20,}"),
    (r"\bAIza[0-9A-Za-z_-]{35}\b", r"AIza[0-9A-Za-z_-]{35}"),
    (r"\bsk-[A-Za-z0-9_-]{32}", r"sk-[A-Za-z0-9_-]{32,}"),
    (
        r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[^\n]*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    ),
)
_FULL_SHAPES = {prefix: re.compile(full) for prefix, full in _SHAPES}
_BEARER = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_PASSWORD_KEY = r"pass(?:word|wd|phrase)?|pwd|pw"
_SECRET_KEY = (
    r"secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret"
    r"|credentials?|auth(?:[_-]?token)?|session[_-]?key|signing[_-]?key|encryption[_-]?key"
)
_AUTHOR = re.compile(r"author(?!i[sz]ation)", re.IGNORECASE)  # `Author-email:` has `auth`
_TEST_RESULTS = frozenset({"PASS", "XPASS"})
_TEST_COUNT = re.compile(r"x?pass(?:ed|es|ing)", re.IGNORECASE)
_ASSIGN_VALUE = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([^\s\"'`]+)")
_PASSWORD = re.compile(rf"(?:{_PASSWORD_KEY})", re.IGNORECASE)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_random(value: str) -> bool:
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return len(value) >= 12 and entropy(value) >= 3.0 and classes >= 2 and not value.isdigit()


class SecretDetector(CandidateDetector):
    name = "secret"
    kinds = frozenset({"SECRET"})
    patterns = (
        *(Pattern(regex=prefix, tag=prefix) for prefix, _ in _SHAPES),
        Pattern(
            regex=r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{0,64}:[^\s@/]{1,128}@",  # user may be empty
            tag="userinfo",
            ignore_case=True,
        ),
        Pattern(
            regex=rf"(?:{_PASSWORD_KEY}|{_SECRET_KEY})[A-Za-z0-9_.-]*[\"']? *(?::|=|=>)",
            tag="assign",
            ignore_case=True,
            needs_start=False,
        ),
        Pattern(
            regex=r"\b(?:Bearer|Basic|Token) [A-Za-z0-9._~+/-]{16}",
            tag="bearer",
            ignore_case=True,
        ),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        shape = _FULL_SHAPES.get(tag)
        if shape is not None:
            match = shape.match(text, start)
            if match is not None:
                yield self._span(start, match.end())
        elif tag == "userinfo":
            colon = text.index(":", text.index("://", start) + 3, end)
            if not is_placeholder(text[colon + 1 : end - 1]):
                yield self._span(colon + 1, end - 1)
        elif tag == "bearer":
            begin = text.index(" ", start) + 1
            match = _BEARER.match(text, begin)
            yield self._span(begin, match.end() if match else end)
        else:
            yield from self._assignment(text, start, end)

    def _assignment(self, text: str, start: int, end: int) -> Iterator[Span]:
        key_end = end - 1 if text[end - 1] in ":=" else end - 2  # `:`, `=` or `=>`
        while key_end > 0 and text[key_end - 1] in " \"'":
            key_end -= 1
        start = key_start(text, key_end)
        key = text[start:key_end]
        while text[end : end + 1] in (" ", "\t", ">"):
            end += 1
        name = key.rsplit(".", 1)[-1]
        if is_working_directory(name, text[end : end + 2].lstrip("\"'")) or _AUTHOR.match(name):
            return
        if _TEST_COUNT.fullmatch(name) or (
            name in _TEST_RESULTS and text[key_end : key_end + 1] == ":"
        ):
            return  # `--- PASS: TestParse (0.00s)` (go test), `Passed: 128` (dotnet test)
        match = _ASSIGN_VALUE.match(text, end)
        if match is None:
            return
        group = next(g for g in (1, 2, 3) if match.group(g) is not None)
        v_start, v_end = match.span(group)
        if group == 3:  # unquoted: a query string or a JSON/YAML flow ends it earlier
            value = text[v_start:v_end]
            if text[start - 1 : start] in ("?", "&"):  # a query parameter
                value = value.split("&", 1)[0]
            value = value.rstrip(",;}])")
            v_end = v_start + len(value)
            if is_reference(value):
                return
        value = text[v_start:v_end]
        if not value or is_placeholder(value) or value.startswith("["):
            return
        if _PASSWORD.search(name) is None and not looks_random(value):
            return
        if name.lower().endswith(("_file", "_path", "_env", "_name", "_id", "_type", "_url")):
            return
        yield self._span(v_start, v_end)

    def _span(self, start: int, end: int) -> Span:
        return Span(start=start, end=end, kind="SECRET", confidence=0.97, detector=self.name)
