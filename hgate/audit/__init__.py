"""Evidence: the signed, hash-chained session transcript, its sinks and offline verification.

    TranscriptWriter ──► Sink (DirectorySink, ...) ──► file ──► verify_transcript(key)
                          └─ FanoutSink ──► segment per checkpoint ──► SegmentShipper
                             (thread) ──► SegmentStore (S3, HTTP collector) ──► verify_source

Format contract: docs/transcript.md.
"""

from typing import TYPE_CHECKING

from hgate.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from hgate.audit.directory_sink import DirectorySink
    from hgate.audit.fanout import FanoutSink
    from hgate.audit.http_sink import HttpSegmentStore
    from hgate.audit.interface import Sink
    from hgate.audit.keys import (
        KeyPaths,
        Signer,
        default_key_dir,
        ensure_local_signer,
        generate_keypair,
        key_fingerprint,
        load_public_key,
        load_signer,
        load_signer_pem,
    )
    from hgate.audit.reassembly import verify_segments, verify_source
    from hgate.audit.report import (
        Break,
        Check,
        Expectations,
        SealSummary,
        SegmentReport,
        Verdict,
        VerificationReport,
    )
    from hgate.audit.s3_sink import S3SegmentStore, S3Target
    from hgate.audit.segments import Segment, SegmentRejected, SegmentStore
    from hgate.audit.shipper import Delivery, SegmentShipper, ShipperStatus
    from hgate.audit.transcript import TranscriptWriter
    from hgate.audit.verify import verify_transcript

__all__ = [
    "Break",
    "Check",
    "Delivery",
    "DirectorySink",
    "Expectations",
    "FanoutSink",
    "HttpSegmentStore",
    "KeyPaths",
    "S3SegmentStore",
    "S3Target",
    "SealSummary",
    "Segment",
    "SegmentRejected",
    "SegmentReport",
    "SegmentShipper",
    "SegmentStore",
    "ShipperStatus",
    "Signer",
    "Sink",
    "TranscriptWriter",
    "Verdict",
    "VerificationReport",
    "default_key_dir",
    "ensure_local_signer",
    "generate_keypair",
    "key_fingerprint",
    "load_public_key",
    "load_signer",
    "load_signer_pem",
    "verify_segments",
    "verify_source",
    "verify_transcript",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Break": "hgate.audit.report",
        "Check": "hgate.audit.report",
        "Delivery": "hgate.audit.shipper",
        "DirectorySink": "hgate.audit.directory_sink",
        "Expectations": "hgate.audit.report",
        "FanoutSink": "hgate.audit.fanout",
        "HttpSegmentStore": "hgate.audit.http_sink",
        "KeyPaths": "hgate.audit.keys",
        "S3SegmentStore": "hgate.audit.s3_sink",
        "S3Target": "hgate.audit.s3_sink",
        "SealSummary": "hgate.audit.report",
        "Segment": "hgate.audit.segments",
        "SegmentRejected": "hgate.audit.segments",
        "SegmentReport": "hgate.audit.report",
        "SegmentShipper": "hgate.audit.shipper",
        "SegmentStore": "hgate.audit.segments",
        "ShipperStatus": "hgate.audit.shipper",
        "Signer": "hgate.audit.keys",
        "Sink": "hgate.audit.interface",
        "TranscriptWriter": "hgate.audit.transcript",
        "Verdict": "hgate.audit.report",
        "VerificationReport": "hgate.audit.report",
        "default_key_dir": "hgate.audit.keys",
        "ensure_local_signer": "hgate.audit.keys",
        "generate_keypair": "hgate.audit.keys",
        "key_fingerprint": "hgate.audit.keys",
        "load_public_key": "hgate.audit.keys",
        "load_signer": "hgate.audit.keys",
        "load_signer_pem": "hgate.audit.keys",
        "verify_segments": "hgate.audit.reassembly",
        "verify_source": "hgate.audit.reassembly",
        "verify_transcript": "hgate.audit.verify",
    },
)
