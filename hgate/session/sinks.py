"""The session's transcript sinks and its failure policy for the remote ones.

The local directory is always written (the evidence the runner keeps whatever happens);
S3 and HTTP sinks receive a segment at every signed checkpoint from a background thread.
When a remote sink fails past its retries, `on_sink_failure: stop` (the default) stops
the agent and seals the local transcript with the failure, then hgate exits 73;
`continue` records the failure in the transcript, warns loudly and carries on. Either
way the failure is an `error` event and the seal lists how far each sink got.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hgate.audit import TranscriptWriter
from hgate.audit.directory_sink import DirectorySink
from hgate.audit.fanout import FanoutSink
from hgate.audit.segments import SegmentStore
from hgate.audit.shipper import Delivery, SegmentShipper, ShipperStatus
from hgate.errors import ConfigError, SinkError
from hgate.policy.model import SinkSettings, TranscriptSettings

Notify = Callable[[str], None]


def sink_variables(settings: TranscriptSettings) -> tuple[str, ...]:
    """Environment variables (globs) the agent must not get because a sink uses them:
    every AWS_* when an S3 sink is configured, each HTTP sink's token variable."""
    names: list[str] = []
    for sink in settings.sinks:
        if sink.type == "s3":
            names.append("AWS_*")
        elif sink.type == "http":
            names.append(sink.token_env)
    return tuple(dict.fromkeys(names))


def build_sink(settings: TranscriptSettings, local_dir: Path, env: Mapping[str, str]) -> FanoutSink:
    """The local directory sink plus one shipper per remote sink of the policy."""
    shippers = [
        SegmentShipper(
            _store(sink, env),
            Delivery(retries=sink.retries, backoff=sink.backoff, queue_size=sink.queue_size),
        )
        for sink in settings.sinks
        if sink.type != "directory"
    ]
    return FanoutSink(DirectorySink(local_dir), shippers)


def _store(sink: SinkSettings, env: Mapping[str, str]) -> SegmentStore:
    """Remote stores load their code only when a policy names them."""
    if sink.type == "http":
        from hgate.audit.http_sink import HttpSegmentStore

        token = env.get(sink.token_env, "")
        if not token:
            raise ConfigError(
                f"the HTTP transcript sink {sink.url} needs its bearer token in ${sink.token_env}",
                remedy=f"set {sink.token_env} (it is removed from the agent's environment)",
            )
        return HttpSegmentStore(sink.url, token, timeout=sink.timeout)
    from hgate.audit.s3_sink import S3SegmentStore, S3Target

    target = S3Target(
        bucket=sink.bucket,
        prefix=sink.prefix,
        region=sink.region,
        endpoint_url=sink.endpoint_url,
        object_lock_mode=sink.object_lock_mode,
        retention_days=sink.retention_days,
        require_object_lock=sink.require_object_lock,
        timeout=sink.timeout,
    )
    return S3SegmentStore(target, env=env)


def _patience(settings: TranscriptSettings) -> float:
    """How long one segment may take to ship, retries and back-off included, plus slack."""
    worst = 0.0
    for sink in settings.sinks:
        if sink.type != "directory":
            backoffs = sum(min(sink.backoff * 2**i, 10.0) for i in range(sink.retries))
            worst = max(worst, (sink.retries + 1) * sink.timeout + backoffs)
    return worst + 5.0


class SinkGuard:
    """Watches the remote sinks from the PTY loop's tick and applies `on_sink_failure`."""

    def __init__(
        self,
        sink: FanoutSink,
        writer: TranscriptWriter,
        settings: TranscriptSettings,
        notify: Notify,
    ) -> None:
        self._sink = sink
        self._writer = writer
        self._policy = settings.on_sink_failure
        self._patience = _patience(settings)
        self._notify = notify
        self._reported: set[str] = set()
        self.failures: list[ShipperStatus] = []
        self.sealed = False  # the local transcript holds its seal (said in the error line)
        self.stop_agent: Callable[[], None] = lambda: None

    @property
    def stopped(self) -> ShipperStatus | None:
        """The failure that stops the session (policy `stop`), if any."""
        return self.failures[0] if self.failures and self._policy == "stop" else None

    def tick(self) -> None:
        """The runner's periodic callback: time-based checkpoints, then failure checks."""
        self._writer.tick()
        self.poll()

    def poll(self) -> None:
        for status in self._sink.statuses():
            if status.failed and status.location not in self._reported:
                self._reported.add(status.location)
                self.failures.append(status)
                self._record(status)

    def start(self) -> None:
        """Before the agent runs: the first segment (header and start checkpoint) must be
        stored remotely; with `stop`, a failure seals the local transcript and refuses."""
        if not self._sink.remote_locations:
            return
        self._notify("transcript also streamed to " + ", ".join(self._sink.remote_locations))
        self._sink.wait_idle(self._patience)
        # A store still busy with segment 1 (an answer that trickles in, each read inside
        # its time-out) has not stored it: failed, before the agent starts, not after.
        self._sink.give_up_unstarted(f"within {self._patience:g}s")
        self.poll()
        if self.stopped is not None:
            self.seal(exit_code=SinkError.exit_code, reason="hgate error: SinkError")
            self.finish(outcome="the agent was not started")

    def settle(self) -> None:
        """Wait for the remote sinks to ship what they were given (bounded), then poll."""
        self._sink.wait_idle(self._patience)
        self.poll()

    def final_status(self, exit_code: int, reason: str) -> tuple[int, str]:
        if (failed := self.stopped) is not None:
            return SinkError.exit_code, f"stopped: transcript sink {failed.location} failed"
        return exit_code, reason

    def seal_extra(self) -> dict[str, Any]:
        local = {"location": self._sink.location, "status": "ok"}
        return {"sinks": [local, *(status.to_dict() for status in self._sink.statuses())]}

    def seal(self, *, exit_code: int, reason: str) -> None:
        self._writer.seal(exit_code=exit_code, reason=reason, extra=self.seal_extra())
        self.sealed = True

    def finish(self, *, outcome: str = "the session was stopped") -> None:
        """After the seal: let the remotes ship it, stop their threads, and raise SinkError
        (exit 73) if the policy is `stop` and a remote failed at any point. `outcome` says
        what became of the agent, which differs when the sink failed before it started."""
        statuses = self._sink.shutdown(self._patience)
        late = [s for s in statuses if s.failed and s.location not in self._reported]
        for status in late:
            self._reported.add(status.location)
            self.failures.append(status)
            self._warn(status, after_seal=True)
        if (failed := self.stopped) is not None:
            raise SinkError(
                f"transcript sink {failed.location} failed: {failed.error}; {outcome} "
                f"and the local transcript {self._sink.location} is sealed",
                remedy="the remote copy ends at segment "
                f"{failed.shipped}; verify the local transcript with hgate verify",
            )

    def shutdown(self) -> None:
        """On an error path: stop the shipping threads (what is queued still ships)."""
        self._sink.shutdown(self._patience)

    def _record(self, status: ShipperStatus) -> None:
        self._writer.append(
            "error",
            {
                "error": "SinkError",
                "sink": status.location,
                "message": status.error,
                "shipped_segments": status.shipped,
                "on_sink_failure": self._policy,
            },
        )
        if self._policy == "stop":
            self._notify(
                f"transcript sink {status.location} failed: {status.error}; stopping the "
                "session (on_sink_failure: stop)"
            )
            self.stop_agent()
        else:
            self._warn(status, after_seal=False)

    def _warn(self, status: ShipperStatus, *, after_seal: bool) -> None:
        where = "after the seal" if after_seal else "the session continues"
        holds = f"segments 1-{status.shipped} only" if status.shipped else "no segment"
        self._notify(
            f"WARNING: transcript sink {status.location} failed ({where}): {status.error}. "
            f"It holds {holds}; the local transcript "
            f"{self._sink.location} keeps every line (on_sink_failure: {self._policy})"
        )
