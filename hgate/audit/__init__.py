"""Evidence: the signed, hash-chained session transcript, its sinks and offline verification.

    TranscriptWriter ──► Sink (DirectorySink, ...) ──► file ──► verify_transcript(key)
                          └─ FanoutSink ──► segment per checkpoint ──► SegmentShipper
                             (thread) ──► SegmentStore (S3, HTTP collector) ──► verify_source

Format contract: docs/transcript.md.
"""

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
