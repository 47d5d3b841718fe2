"""``dancu-bus verify-file IN.csv --out OUT.csv``: every row of a CSV verified, in VERIFY_BATCH requests.

Run as the agency (``DANCU_SDK__AGENCY``, its SCRAM login in ``DANCU_KAFKA__*``), as any agency-side
client. OUT.csv gets one row per input row, in input order: the input's columns, then the verdict,
the reason of a refusal and an outcome per verifiable field. A row that cannot be read as a
verification (a bad date, a cell too long, a wrong number of cells) is answered in OUT.csv itself
(MALFORMED_REQUEST, never sent); a row the resolver refuses gets its reason; nothing a row holds stops
the run.

Resuming after a crash, without asking twice: beside OUT.csv, ``OUT.csv.progress`` journals (fsynced)
each batch's request id before it is produced, and OUT.csv's length after each batch's rows are
written and fsynced. Started again with the same IN and OUT, the command cuts OUT.csv back to the last
complete batch (a torn row goes), collects from the response topic the answers to batches sent after
it (``Client.collect``), sends only what never reached the resolver, and carries on: the finished OUT.csv
is the one an uninterrupted run writes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from dancu_bus.contracts import VERIFIABLE_FIELDS, Address, Request, Response, VerifyQuery
from dancu_bus.errors import ConfigError
from dancu_bus.operations import platform_codec
from dancu_bus.operations.verify_batch import MAX_ITEMS
from dancu_bus.reasons import Reason, Rejection, worded
from dancu_bus.sdk import Client, ClientConfig, Context, VerifyAnswer
from dancu_bus.sdk.batches import answers_of
from dancu_bus.settings import Settings

__all__ = ["COLUMNS", "RESULT_COLUMNS", "Journal", "query_of", "register", "result_cells"]

# The input columns read (header names); personal_id is required, an empty cell is "not supplied".
COLUMNS = (
    "personal_id",
    "full_name",
    "birth_date",
    "sex",
    "ethnic_group",
    "phone",
    "address_scheme",
    "province_code",
    "district_code",
    "commune_code",
)
RESULT_COLUMNS = ("verdict", "reason_code", "reason", *(f"outcome_{f}" for f in VERIFIABLE_FIELDS))
# Longer cells are refused locally: with at most this much per cell a full batch stays far below the
# resolver's record limit, so one hostile row cannot get a thousand others refused.
CELL_LIMIT = 200
_FIELD_SIZE = 1 << 20  # the csv module's limit per cell; longer is a per-row refusal too
_HEAD_BYTES = 1 << 20
_HELP = f"""Input: a CSV with a header row naming its columns; those read are {", ".join(COLUMNS)}
(personal_id required; birth_date as YYYY-MM-DD; the address needs address_scheme, province_code and
commune_code; an empty cell is not supplied; other columns are copied to the output). Output: the input's
columns, then {", ".join(RESULT_COLUMNS[:3])} and outcome_<field> for each verifiable field. The agency is
DANCU_SDK__AGENCY with its login in DANCU_KAFKA__*. Killed and started again with the same IN and OUT, it
resumes without asking again what was answered."""


def register(commands: Any) -> None:
    """Add ``verify-file``."""
    command = commands.add_parser(
        "verify-file",
        help="verify every row of a CSV (VERIFY_BATCH), resumable",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("input", type=Path, metavar="IN.csv")
    command.add_argument("--out", type=Path, required=True, metavar="OUT.csv")
    command.add_argument("--officer", required=True, help="the officer (cán bộ) asking")
    command.add_argument("--case", required=True, help="the case or file number (số hồ sơ)")
    command.add_argument("--purpose", required=True, help="a purpose registered for VERIFY")
    command.add_argument("--legal-basis", required=True, help="the purpose's legal basis, as registered")
    command.add_argument("--batch-size", type=int, default=MAX_ITEMS, help=f"rows per request, 1–{MAX_ITEMS}")
    command.add_argument("--in-flight", type=int, default=4, help="batches in flight at once")
    command.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    command.set_defaults(run=run_verify_file)


def run_verify_file(args: argparse.Namespace, settings: Settings) -> int:
    """Verify IN into OUT (resuming OUT where it stopped); the summary on stderr."""
    if not 1 <= args.batch_size <= MAX_ITEMS:
        raise ConfigError(f"--batch-size must be 1 to {MAX_ITEMS}")
    context = Context(args.officer, args.case, args.purpose, args.legal_basis)
    config = ClientConfig(settings.sdk.agency, settings.kafka)
    with open(args.input, encoding="utf-8-sig", errors="replace", newline="") as source:
        header = _header(source)
        job = _Job.start(args.input, args.out, header, args.batch_size)
        with Client(config, platform_codec()) as client, job:
            job.resume(client)
            job.run(client, _rows(source, job.done), context, args.in_flight, not args.no_progress)
    print(job.summary(), file=sys.stderr)
    return 0


def query_of(cells: Mapping[str, str]) -> VerifyQuery | Rejection:
    """The verification a row asks for, or MALFORMED_REQUEST saying what is wrong with the row."""
    long = next((c for c in COLUMNS if len(cells.get(c, "")) > CELL_LIMIT), None)
    if long is not None:
        return Rejection(Reason.MALFORMED_REQUEST, f"{long} is longer than {CELL_LIMIT} characters")
    value = {c: cells.get(c, "").strip() or None for c in COLUMNS}
    if value["personal_id"] is None:
        return Rejection(Reason.MALFORMED_REQUEST, "personal_id is empty")
    try:
        birth = date.fromisoformat(value["birth_date"]) if value["birth_date"] else None
    except ValueError:
        return Rejection(Reason.MALFORMED_REQUEST, "birth_date is not a date (YYYY-MM-DD)")
    address = _address(value)
    if isinstance(address, Rejection):
        return address
    return VerifyQuery(
        value["personal_id"] or "",
        value["full_name"],
        birth,
        value["sex"],
        value["ethnic_group"],
        value["phone"],
        address,
    )


def _address(value: Mapping[str, str | None]) -> Address | Rejection | None:
    parts = ("address_scheme", "province_code", "district_code", "commune_code")
    if not any(value[p] for p in parts):
        return None
    scheme, province, district, commune = (value[p] for p in parts)
    if scheme is None or province is None or commune is None:
        return Rejection(
            Reason.MALFORMED_REQUEST, "an address needs address_scheme, province_code and commune_code"
        )
    return Address(scheme, province, commune, district)


def result_cells(outcome: VerifyAnswer | Rejection) -> list[str]:
    """The result columns of a row: its answer, or the local refusal of a row that could not be sent."""
    if isinstance(outcome, Rejection):
        return ["", outcome.reason.value, worded(outcome).en, *([""] * len(VERIFIABLE_FIELDS))]
    verdict = outcome.verdict.value if outcome.verdict is not None else ""
    outcomes = [outcome.fields[f].value if f in outcome.fields else "" for f in VERIFIABLE_FIELDS]
    return [verdict, outcome.reason_code or "", outcome.message_en or "", *outcomes]


@dataclass(frozen=True, slots=True)
class _Row:
    """An input row: its cells as read (or why they could not be), and what it asks."""

    cells: dict[str, str]
    asks: VerifyQuery | Rejection


def _header(source: IO[str]) -> list[str]:
    try:
        header = next(csv.reader(source), None)
    except csv.Error as exc:
        raise ConfigError(f"the input's header row cannot be read: {exc}") from exc
    if not header or "personal_id" not in header:
        raise ConfigError("the input needs a header row with a personal_id column (see --help)")
    return header


def _rows(source: IO[str], skip: int) -> Iterator[_Row]:
    """Every row after the header and the first ``skip``; a row the csv module cannot read is a refusal."""
    csv.field_size_limit(_FIELD_SIZE)
    source.seek(0)
    reader = csv.reader(source)
    header: list[str] | None = None
    index = -1
    while True:
        problem: Rejection | None = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells, problem = [], Rejection(Reason.MALFORMED_REQUEST, f"the row cannot be read: {exc}")
        if header is None:
            header = cells
            continue
        index += 1
        if index >= skip:
            yield _row(header, cells, problem)


def _row(header: list[str], cells: list[str], problem: Rejection | None) -> _Row:
    named = dict(zip(header, cells, strict=False))
    if problem is None and len(cells) != len(header):
        problem = Rejection(Reason.MALFORMED_REQUEST, f"{len(cells)} cells, the header has {len(header)}")
    return _Row(named, problem or query_of(named))


@dataclass(slots=True)
class _Block:
    """Consecutive input rows sent as one batch (or answered before a restart: ``collected``)."""

    first: int
    rows: list[_Row]
    collected: Response | None = None

    @property
    def items(self) -> list[VerifyQuery]:
        """The rows' verifications, in order (the rows refused locally are not sent)."""
        return [r.asks for r in self.rows if isinstance(r.asks, VerifyQuery)]


@dataclass(slots=True)
class Journal:
    """The progress file: the input it belongs to, each batch sent, and OUT's length after each batch."""

    input: dict[str, Any]
    # The batches sent after the last durable one, by their first row (a batch sent again replaces it).
    sent: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: int = 0
    offset: int = 0  # 0 until OUT.csv has its header

    @classmethod
    def read(cls, path: Path) -> Journal:
        """The journal in ``path``; a torn last line (a crash while writing it) is ignored."""
        lines = path.read_text(encoding="utf-8").splitlines()
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break
        if not entries or "input" not in entries[0]:
            raise ConfigError(f"{path} is not a verify-file progress file")
        journal = cls(entries[0]["input"])
        for entry in entries[1:]:
            journal.take(entry)
        return journal

    def take(self, entry: Mapping[str, Any]) -> None:
        """Apply one journal line."""
        if "sent" in entry:
            self.sent[int(entry["first"])] = dict(entry)
        elif "done" in entry:
            self.done, self.offset = int(entry["done"]), int(entry["offset"])
            self.sent = {first: s for first, s in self.sent.items() if first >= self.done}


class _Job:
    """OUT.csv and its progress file, written batch by batch, each durable before the next."""

    def __init__(self, out: Path, journal: Journal, batch_size: int) -> None:
        self._out_path = out
        self._journal_path = out.with_name(out.name + ".progress")
        self.journal = journal
        self._batch_size = batch_size
        self._out: IO[str] | None = None
        self._log: IO[str] | None = None
        self._writer: Any = None
        self._collected: dict[int, Response] = {}
        self.counts: Counter[str] = Counter()
        self.asked = 0
        self.recovered = 0

    @classmethod
    def start(cls, input_path: Path, out: Path, header: list[str], batch_size: int) -> _Job:
        """A new job (OUT.csv with its header), or the one OUT.csv's progress file describes."""
        identity = {
            "size": input_path.stat().st_size,
            "head_sha256": _head_hash(input_path),
            "header": header,
        }
        progress = out.with_name(out.name + ".progress")
        if not progress.exists():
            if out.exists():
                raise ConfigError(
                    f"{out} exists and is no verify-file output: remove it or choose another --out"
                )
            return cls(out, Journal(identity), batch_size)
        journal = Journal.read(progress)
        if journal.input != identity:
            raise ConfigError(
                f"{out} was made from another input: remove it and {progress.name}, or use another --out"
            )
        return cls(out, journal, batch_size)

    @property
    def done(self) -> int:
        """Input rows whose output rows are durable."""
        return self.journal.done

    def __enter__(self) -> _Job:
        new = not self._journal_path.exists()
        # The journal first: an OUT.csv without one is never ours to overwrite.
        self._log = open(self._journal_path, "a", encoding="utf-8")
        if new:
            self._write_line({"input": self.journal.input})
        self._out = open(self._out_path, "a+", encoding="utf-8", newline="")
        self._writer = csv.writer(self._out)
        # Cut a torn row, or a batch the journal has not vouched for (append mode writes at the end).
        self._out.truncate(self.journal.offset)
        if self.journal.offset == 0:
            self._writer.writerow([*self.journal.input["header"], *RESULT_COLUMNS])
            self._append({"done": 0, "offset": self._out.tell()}, sync_out=True)
            self.journal.offset = self._out.tell()
        else:
            self._count_kept()
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in (self._out, self._log):
            if handle is not None:
                handle.close()

    def resume(self, client: Client) -> None:
        """Collect the answers to batches sent after the last durable one; the rest will be sent again."""
        pending = list(self.journal.sent.values())
        if not pending:
            return
        since = min(datetime.fromisoformat(s["at"]) for s in pending)
        latest = max(datetime.fromisoformat(s["at"]) for s in pending)
        # Whatever reached the resolver is answered within its lifetime (EXPIRED at worst).
        bound = latest + timedelta(seconds=client.config.lifetime_s + 10) - datetime.now(UTC)
        found = client.collect([s["sent"] for s in pending], since, max(10.0, bound.total_seconds()))
        self._collected = {
            s["first"]: found.responses[s["sent"]] for s in pending if s["sent"] in found.responses
        }

    def run(self, client: Client, rows: Iterator[_Row], context: Context, in_flight: int, bar: bool) -> None:
        """Verify ``rows`` batch by batch, each batch's output durable before the next is written."""
        progress = tqdm(
            initial=self.done,
            unit="row",
            file=sys.stderr,
            disable=not bar,
            mininterval=0.5,
            dynamic_ncols=True,
        )
        blocks = ((b, () if b.collected is not None else b.items) for b in self._blocks(rows))
        with progress:
            for block, answers in client.verify_batches(blocks, context, in_flight, self._sent):
                self._write(block, answers)
                progress.update(len(block.rows))

    def summary(self) -> str:
        """Counts by verdict (and by reason of refusal) over the whole output."""
        total = sum(self.counts.values())
        shown = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return (
            f"verify-file: {total} rows in {self._out_path} ({self.asked} asked now,"
            f" {self.recovered} collected from before a restart): {shown or 'nothing'}"
        )

    def _blocks(self, rows: Iterator[_Row]) -> Iterator[_Block]:
        """Blocks of rows: first those the journal says were sent (their sizes), then of the batch size."""
        first = self.done
        pending = {first: int(s["rows"]) for first, s in self.journal.sent.items()}
        while True:
            size = pending.get(first, self._batch_size)
            block = _Block(first, [row for _, row in zip(range(size), rows, strict=False)])
            if not block.rows:
                return
            block.collected = self._collected.get(first)
            yield block
            first += len(block.rows)

    def _sent(self, block: _Block, request: Request) -> None:
        at = request.sent_at.isoformat()
        self._append({"sent": request.request_id, "first": block.first, "rows": len(block.rows), "at": at})

    def _write(self, block: _Block, answers: Sequence[VerifyAnswer]) -> None:
        if block.collected is not None:
            answers = answers_of(block.collected, block.items)
            self.recovered += len(answers)
        else:
            self.asked += len(answers)
        given = iter(answers)
        header = self.journal.input["header"]
        for row in block.rows:
            outcome = next(given) if isinstance(row.asks, VerifyQuery) else row.asks
            cells = result_cells(outcome)
            self._tally(cells)
            self._writer.writerow([*(row.cells.get(h, "") for h in header), *cells])
        assert self._out is not None
        self.journal.done = block.first + len(block.rows)
        self._append({"done": self.journal.done, "offset": self._out.tell()}, sync_out=True)

    def _append(self, entry: Mapping[str, Any], sync_out: bool = False) -> None:
        """One journal line, durable; OUT.csv made durable first when the line vouches for it."""
        assert self._out is not None
        if sync_out:
            self._out.flush()
            os.fsync(self._out.fileno())
        self._write_line(entry)

    def _write_line(self, entry: Mapping[str, Any]) -> None:
        assert self._log is not None
        self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def _tally(self, cells: Sequence[str]) -> None:
        self.counts[cells[0] or f"REJECTED {cells[1]}"] += 1

    def _count_kept(self) -> None:
        """The counts of the rows kept from before the restart, read back from OUT.csv."""
        assert self._out is not None
        self._out.seek(0)
        reader = csv.reader(self._out)
        next(reader, None)
        width = len(self.journal.input["header"])
        for cells in reader:
            self._tally(cells[width:])
        self._out.seek(self.journal.offset)


def _head_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(_HEAD_BYTES)).hexdigest()
