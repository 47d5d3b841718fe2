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
  partition's newest intact record and chain on from its hash. Audit records and the consumed offsets
  of their exchange topics commit in one transaction, so a crash leaves both or neither, and a failed
  write closes the writer, rewinds its inputs to the last commit and reopens it from the tail.
- **Replays.** Offsets are committed only up to the oldest exchange still waiting for its other half
  (``witness.Pairing``), so after a restart or a rebalance some exchanges are paired again. Their records
  are appended again, as new links with the same key: the log shows the replay, and compaction keeps
  the newest record of each request id, as DESIGN.md promises. A request recorded ``UNANSWERED`` and
  later paired is superseded in the same way.
- **Compaction.** Removing a superseded record leaves its successor chaining from a record that is no
  longer there. Each record therefore names the request id of its predecessor too
  (``prev_request_id``), and ``verify`` accepts a vanished predecessor only when a record with that
  request id still follows at or after the one chaining from it: exactly what compaction may remove.
  A vanished record whose request id appears nowhere later is a gap; tombstones are never written, so
  one is reported as a deletion. Where compaction removed several records in a row, only the last
  one's request id is checked: the links between the removed records are gone with them.
- **Limits.** The hash is keyless: someone able to write the audit topic and to rewrite every later
  record can forge a consistent chain. ``dancu-bus audit verify`` prints each partition's last hash so
  inspectors can anchor it elsewhere (Art. 10); ``--expired-head`` accepts a partition whose oldest
  records retention has deleted.
"""

from dancu_bus.audit.chain import GENESIS, ChainHead, audit_partition, record_hash, seal
from dancu_bus.audit.service import AuditHandler, AuditLimits, run_audit
from dancu_bus.audit.verify import Finding, PartitionCheck, Problem, Unaudited, unaudited, verify_log
from dancu_bus.audit.witness import Pairing, SeenRequest, audit_record, request_half, response_half

__all__ = [
    "GENESIS",
    "AuditHandler",
    "AuditLimits",
    "ChainHead",
    "Finding",
    "Pairing",
    "PartitionCheck",
    "Problem",
    "SeenRequest",
    "Unaudited",
    "audit_partition",
    "audit_record",
    "record_hash",
    "request_half",
    "response_half",
    "run_audit",
    "seal",
    "unaudited",
    "verify_log",
]
