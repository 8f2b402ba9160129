"""Bytes from the agent's PTY in, masked lines out: the assembler and masker joined.

Each `MaskedLine` carries the masked plain `text` for the transcript and the `display`
bytes for the CI log (the agent's colours and cursor codes re-inserted, except where
they sat inside a masked value). If the display would spell out an exact value across
an escape (an agent printing `\\x1b[31` before `mvalue`), the escapes are dropped.
All lines completed by one read are masked as one block (one engine pass).

`feed_batch` is the session's path: a read of plain lines (the common case, `\\r\\n`
ends included) comes back as a `MaskedBatch` (masked texts, their ends, the findings
of the few lines that have any, and the display bytes) without a per-line object.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hgate.mask.assembler import LineAssembler, RawLine
from hgate.mask.interface import DetectorError, Span
from hgate.mask.masker import DETECTOR_ERROR_MARKER, Finding, Masker, error_finding

__all__ = ["MaskedBatch", "MaskedLine", "MaskingStream"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskedLine:
    """One masked line: `text` for the transcript, `display` for the CI log."""

    text: str
    findings: tuple[Finding, ...]
    end: str
    display: bytes


@dataclass(slots=True, kw_only=True)
class MaskedBatch:
    """The lines one feed completed, masked: the compact form of a list of MaskedLine.

    `texts[i]` is line i's masked text, `ends` its terminator (one string when all lines
    share it), `findings` maps the index of each line with findings to them, `displays`
    the index of each line the masker rebuilt (a finding, escapes re-inserted, a cut, a
    detector error) to its display bytes (any other line's are its text and end), and
    `display` is every line's display bytes, concatenated.
    """

    texts: list[str]
    ends: str | list[str]
    findings: dict[int, tuple[Finding, ...]]
    display: bytes
    displays: dict[int, bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def end(self, index: int) -> str:
        ends = self.ends
        return ends if isinstance(ends, str) else ends[index]

    def lines(self) -> list[MaskedLine]:
        """The batch as MaskedLine objects."""
        findings, displays = self.findings, self.displays
        return [
            MaskedLine(
                text=text,
                findings=findings.get(index, ()),
                end=self.end(index),
                display=displays[index] if index in displays else (text + self.end(index)).encode(),
            )
            for index, text in enumerate(self.texts)
        ]

    @classmethod
    def of(cls, lines: list[MaskedLine]) -> MaskedBatch:
        return cls(
            texts=[line.text for line in lines],
            ends=[line.end for line in lines],
            findings={i: line.findings for i, line in enumerate(lines) if line.findings},
            display=b"".join(line.display for line in lines),
            displays=dict(enumerate(line.display for line in lines)),
        )


class MaskingStream:
    """The session's data path: `feed` PTY bytes, get masked lines back."""

    def __init__(self, masker: Masker, assembler: LineAssembler | None = None) -> None:
        self.masker = masker
        self.assembler = assembler if assembler is not None else LineAssembler()
        self.kinds_seen: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[MaskedLine]:
        return self.feed_batch(data).lines()

    def feed_batch(self, data: bytes) -> MaskedBatch:
        """What `feed` would return, as one MaskedBatch (the session's cheap path)."""
        block = self.assembler.feed_block(data)
        if not isinstance(block, str):
            return self._mask_batch(block)
        if not block:
            return MaskedBatch(texts=[], ends="\n", findings={}, display=b"")
        crlf = block.count("\r\n") if "\r" in block else 0
        texts = (block.replace("\r\n", "\n") if crlf else block).split("\n")
        texts.pop()  # the block ends with \n
        ends: str | list[str]
        if not crlf:
            ends = "\n"
        elif crlf == len(texts):
            ends = "\r\n"
        else:
            ends = ["\r\n" if line[-1:] == "\r" else "\n" for line in block.split("\n")]
            ends.pop()
        sparse = self.masker.scan_sparse(texts)
        if not sparse:
            return MaskedBatch(texts=texts, ends=ends, findings={}, display=block.encode())
        findings: dict[int, tuple[Finding, ...]] = {}
        for index, spans in sparse.items():
            line = RawLine(text=texts[index])
            masked = (
                self._error_line(line, spans)
                if isinstance(spans, DetectorError)
                else self._render(line, spans)
            )
            texts[index] = masked.text
            if masked.findings:
                findings[index] = masked.findings
        if isinstance(ends, str):
            display = (ends.join(texts) + ends).encode()
        else:
            display = "".join([t + e for t, e in zip(texts, ends, strict=True)]).encode()
        return MaskedBatch(texts=texts, ends=ends, findings=findings, display=display)

    def feed_display(self, data: bytes) -> bytes:
        """What `feed` would write to the log, as bytes, without per-line objects.

        The path for filters (`hgate mask`) and benchmarks: plain blocks are scanned
        in one pass and only lines with findings are rebuilt. `kinds_seen` counts them.
        """
        batch = self.feed_batch(data)
        for findings in batch.findings.values():
            self.kinds_seen.update(f.kind for f in findings)
        return batch.display

    def _display(self, lines: list[MaskedLine]) -> bytes:
        for line in lines:
            self.kinds_seen.update(f.kind for f in line.findings)
        return b"".join(line.display for line in lines)

    def close_display(self) -> bytes:
        return self._display(self.close())

    def flush_idle(self, force: bool = False) -> list[MaskedLine]:
        return self.mask_lines(self.assembler.flush_idle(force=force))

    def close(self) -> list[MaskedLine]:
        return self.mask_lines(self.assembler.close())

    def mask_lines(self, lines: list[RawLine]) -> list[MaskedLine]:
        """Mask assembled lines (in stream order) as one block."""
        return self._mask_batch(lines).lines() if lines else []

    def _mask_batch(self, lines: list[RawLine]) -> MaskedBatch:
        """Only lines with findings, escapes or a cut's context get a MaskedLine; the rest
        go straight into the batch (a coloured log's common line)."""
        results = self.masker.scan_lines([line.text for line in lines]) if lines else []
        texts: list[str] = []
        ends: list[str] = []
        findings: dict[int, tuple[Finding, ...]] = {}
        displays: dict[int, bytes] = {}
        chunks: list[bytes] = []
        run: list[str] = []  # display text of the plain lines since the last rebuilt one
        for index, (line, spans) in enumerate(zip(lines, results, strict=True)):
            if not spans and not line.escapes and not line.lead and not line.trail:
                texts.append(line.text)
                ends.append(line.end)
                run.append(line.text)
                run.append(line.end)
                continue
            masked = (
                self._error_line(line, spans)
                if isinstance(spans, DetectorError)
                else self._render(line, spans)
            )
            texts.append(masked.text)
            ends.append(masked.end)
            if masked.findings:
                findings[index] = masked.findings
            displays[index] = masked.display
            if run:
                chunks.append("".join(run).encode())
                run = []
            chunks.append(masked.display)
        if run:
            chunks.append("".join(run).encode())
        return MaskedBatch(
            texts=texts, ends=ends, findings=findings, display=b"".join(chunks), displays=displays
        )

    def _error_line(self, line: RawLine, error: DetectorError) -> MaskedLine:
        marker = DETECTOR_ERROR_MARKER
        return MaskedLine(
            text=marker,
            findings=(error_finding(error),),
            end=line.end,
            display=(marker + line.end).encode(),
        )

    def _render(self, line: RawLine, spans: list[Span]) -> MaskedLine:
        masker = self.masker
        rendering = masker.render(
            line.text,
            spans,
            lead=line.lead,
            trail=line.trail,
            escapes=line.escapes,
            seen=line.seen,
        )
        display = rendering.display
        if line.escapes and masker.exact_count and masker.find_exact(display):
            display = rendering.text
        return MaskedLine(
            text=rendering.text,
            findings=rendering.findings,
            end=line.end,
            display=(display + line.end).encode(),
        )
