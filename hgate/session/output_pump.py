"""The agent's PTY bytes on their way out: masked to the CI log, recorded in the transcript.

Nothing reaches the output descriptor or the transcript that has not passed the masker;
the PHI exposure budget is counted here, where every finding passes. The CI log gets the
masked bytes with invisible format characters (bidi controls, zero-width characters)
shown as `<U+202E>`, so a line cannot read differently from what it is; the transcript
keeps the masked text as the agent printed it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hgate.audit import TranscriptWriter
from hgate.mask import MaskedBatch, MaskingStream
from hgate.mask.rendering import neutralise_invisible
from hgate.session.pty_runner import write_all


class OutputPump:
    """Raw PTY bytes in; masked bytes to the CI log and masked events to the transcript."""

    def __init__(
        self, stream: MaskingStream, writer: TranscriptWriter, output_fd: int, budget: int | None
    ) -> None:
        self._stream = stream
        self._writer = writer
        self._fd = output_fd
        self._budget = budget
        self.findings: Counter[str] = Counter()
        self.lines = 0
        self.budget_exceeded = False
        self.on_budget_exceeded: Callable[[], None] = lambda: None

    def feed(self, data: bytes) -> None:
        self._emit(self._stream.feed_batch(data))

    def idle(self, force: bool) -> None:
        self._emit(MaskedBatch.of(self._stream.flush_idle(force=force)))

    def close(self) -> None:
        self._emit(MaskedBatch.of(self._stream.close()))

    def _emit(self, batch: MaskedBatch) -> None:
        """One transcript event per PTY read: the lines it completed, masked, in order."""
        if not batch.texts:
            return
        ends = batch.ends
        records: list[dict[str, Any]]
        if isinstance(ends, str):
            records = [{"text": text, "end": ends} for text in batch.texts]
        else:
            records = [
                {"text": text, "end": end} for text, end in zip(batch.texts, ends, strict=True)
            ]
        for index, findings in batch.findings.items():
            records[index]["findings"] = [
                {"kind": f.kind, "start": f.start, "end": f.end, "token": f.token} for f in findings
            ]
            self.findings.update(f.kind for f in findings)
        self._writer.append("output", {"stream": "pty", "lines": records})
        self.lines += len(records)
        write_all(self._fd, neutralise_invisible(batch.display))
        if (
            self._budget is not None
            and not self.budget_exceeded
            and (sum(self.findings.values()) > self._budget)
        ):
            self.budget_exceeded = True
            self._writer.append(
                "decision",
                {
                    "action": "stop",
                    "rule": "mask.max_findings",
                    "reason": f"PHI exposure budget of {self._budget} masked findings exceeded",
                },
            )
            self.on_budget_exceeded()
