"""The audit consumer (Art. 13): an independent witness that records every exchange, hash-chained.

How the chain stays well defined (issue 5, DESIGN.md section 5):

- **One chain per audit partition, one writer per chain.** An exchange's record goes to the audit
  partition of its agency (``chain.audit_partition``: SHA-256 of the agency id, modulo the partition
  count), not to the partition of its key's hash. The audit consumer group uses a co-locating
  assignor (``transport.assignor``): every partition of every request and response topic of the
  agencies of one audit partition goes to the same member. That member is the partition's only
  writer, and it also sees both halves of each exchange, whichever partitions the agency's client
  and the resolver picked, which the witness needs to pair them without trusting either party.
  Scaling out therefore works up to one member per audit partition in use (more members stand by);
  the unit of work is an agency. Every member must run this assignor, so a group that ran an older
  audit consumer is stopped entirely before the first of these joins it.
- **Taking a partition over.** Each audit partition is written through its own transactional
  producer (``transport.fenced``), id ``<group>.<audit topic>.<partition>``. A member that is assigned
  the partition initialises that id before writing, which aborts or completes any transaction of the
  previous writer (even one the group already gave up on) and fences it; only then does it read the
  partition's newest intact record (and chain on from its hash), the partition's waiting halves, and
  its inputs' committed offsets, where it starts. Audit records, state and the consumed offsets commit
  in one transaction, so a crash leaves all or none, and a failed write closes the writer, forgets the
  partition and takes it over again from the topics.
- **One record per exchange.** An exchange is one request record, identified by where it arrived
  (``dancu_bus.exchanges``: topic, partition, offset, broker timestamp), never by the request id the
  agency chose; the response carries the exchange id and the audit record is keyed by it. So two
  records with one request id (a resend, a reuse) are two exchanges with two records, and no agency
  can make compaction remove another exchange's record.
- **What waits.** A request waiting for its response (or a response read before its request) is an
  ``AuditPending`` in ``<prefix>.audit.pending`` (same partition number as the audit partition, key =
  exchange id), written with the batch's audit records and consumed offsets in one transaction and
  tombstoned once recorded. Offsets are therefore committed as consumed, and a member taking a
  partition over reads its waiting halves back (``witness.Pairing``): nothing is paired twice, nothing
  is lost. A request with no response after the UNANSWERED bound is recorded ``UNANSWERED`` (the
  worker ticks when idle); its half waits on, and a late response gives the exchange its true record,
  which supersedes the UNANSWERED one under compaction (the same key).
- **Compaction.** Removing a superseded record leaves its successor chaining from a record that is no
  longer there. Each record therefore names the exchange id of its predecessor too
  (``prev_exchange_id``), and ``verify`` accepts a vanished predecessor only when a record with that
  exchange id still follows at or after the one chaining from it: exactly what compaction may remove.
  A vanished record whose exchange id appears nowhere later is a gap; tombstones are never written, so
  one is reported as a deletion. ``audit verify`` also reads the request topics and names every
  decodable request record without an audit record.
- **Signed checkpoints.** The hash alone is keyless: someone able to write the audit topic and to
  rewrite every later record could forge a consistent chain. With ``DANCU_AUDIT__SIGNING_KEY_FILE``
  the consumer signs each partition's committed head with Ed25519 every
  ``DANCU_AUDIT__CHECKPOINT_INTERVAL_S`` (``checkpoints``, ``checkpointing``, ``signing``), in the
  partition's next transaction, to ``<prefix>.audit.checkpoints``; ``audit verify --public-key``
  checks every signature and that successive signed heads are linked by the chain, so a rewritten
  partition fails at the first signed head it no longer has. Records after the last checkpoint are
  covered by the chain only. ``dancu-bus audit verify`` also prints each partition's last hash so
  inspectors can anchor it elsewhere (Art. 10); ``--expired-head`` accepts a partition whose oldest
  records retention has deleted, and ``audit archive`` keeps them first (``archive``).
"""

from dancu_bus.audit.chain import GENESIS, ChainHead, audit_partition, record_hash, seal
from dancu_bus.audit.checkpoints import (
    Checkpoint,
    CheckpointCheck,
    CheckpointFailure,
    CheckpointProblem,
    check_checkpoints,
)
from dancu_bus.audit.service import AuditHandler, AuditLimits, AuditOutputs, run_audit
from dancu_bus.audit.verify import Finding, PartitionCheck, Problem, Unaudited, unaudited, verify_log
from dancu_bus.audit.witness import (
    Pairing,
    SeenRequest,
    audit_record,
    audit_records,
    exchange_ids,
    request_half,
    request_items,
    response_half,
)

__all__ = [
    "GENESIS",
    "AuditHandler",
    "AuditLimits",
    "AuditOutputs",
    "ChainHead",
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointFailure",
    "CheckpointProblem",
    "Finding",
    "Pairing",
    "PartitionCheck",
    "Problem",
    "SeenRequest",
    "Unaudited",
    "audit_partition",
    "audit_record",
    "audit_records",
    "check_checkpoints",
    "exchange_ids",
    "record_hash",
    "request_half",
    "request_items",
    "response_half",
    "run_audit",
    "seal",
    "unaudited",
    "verify_log",
]
