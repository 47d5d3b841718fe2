"""An agency's application as the fault harness runs it: the SDK with its defaults, a journal, a restart.

``python -m dancu_bus.faults.application JOB`` works through ``JOB/queries.tsv`` (one VERIFY per
line: number, personal id, full name, birth date) as a bulk job would: it journals each request id
before handing the request to ``Client.send_requests`` (``JOB/sent.tsv``), writes each answer as it
comes (``JOB/answers.tsv``), and exits 0 once every query is answered. Killed and started again, it
first collects the answers to what it had sent (``Client.collect``), sends again only what never
reached the bus, then goes on with the rest: nothing is asked twice, nothing answered twice. The
agency, its purpose and the pace come from ``DANCU_FAULTS__AGENCY``, ``__PURPOSE``,
``__LEGAL_BASIS`` and ``__RATE``; the cluster from ``DANCU_KAFKA__*``, as for any SDK user.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from dancu_bus.contracts import Request, Response, VerifyQuery
from dancu_bus.sdk import Client, ClientConfig, Context

__all__ = ["Job", "main"]

QUERIES, SENT, ANSWERS = "queries.tsv", "sent.tsv", "answers.tsv"


@dataclass(frozen=True, slots=True)
class Job:
    """The job's folder: its queries, the journal of what was sent, and the answers received."""

    folder: Path

    def queries(self) -> list[tuple[int, VerifyQuery]]:
        """Every query, numbered."""
        lines = (self.folder / QUERIES).read_text(encoding="utf-8").splitlines()
        rows = _cells(lines)
        return [(int(n), VerifyQuery(pid, name, date.fromisoformat(born))) for n, pid, name, born in rows]

    def sent(self) -> dict[str, tuple[int, datetime]]:
        """Request id → query number and when it was handed to the SDK."""
        return {rid: (int(n), datetime.fromisoformat(at)) for n, rid, at in self._rows(SENT)}

    def answers(self) -> dict[str, str]:
        """Request id → what its answer said."""
        return {rid: outcome for rid, outcome in self._rows(ANSWERS)}

    def _rows(self, name: str) -> list[list[str]]:
        path = self.folder / name
        if not path.exists():
            return []
        # The last line may be cut short by a kill: only whole lines count.
        text = path.read_text(encoding="utf-8")
        whole = text[: text.rfind("\n") + 1]
        return list(_cells(whole.splitlines()))


def _cells(lines: Sequence[str]) -> Iterator[list[str]]:
    return (line.split("\t") for line in lines if line)


def _outcome(response: Response) -> str:
    if response.verify is not None and response.reason_code is None:
        return response.verify.verdict.value
    return response.reason_code or response.status.value


def _append(out: TextIO, *cells: str) -> None:
    out.write("\t".join(cells) + "\n")
    out.flush()
    os.fsync(out.fileno())


def main(argv: Sequence[str]) -> int:
    """Work through the job in ``argv[0]``; 0 once every query has its one answer."""
    job = Job(Path(argv[0]))
    agency = os.environ["DANCU_FAULTS__AGENCY"]
    purpose, basis = os.environ["DANCU_FAULTS__PURPOSE"], os.environ["DANCU_FAULTS__LEGAL_BASIS"]
    context = Context("app-officer", "HS-FAULTS-APP", purpose, basis)
    rate = float(os.environ.get("DANCU_FAULTS__RATE", "200"))
    queries = dict(job.queries())
    with (
        Client(ClientConfig(agency)) as client,
        (job.folder / SENT).open("a") as sent,
        (job.folder / ANSWERS).open("a") as answers,
    ):
        journal, answered = job.sent(), job.answers()
        waiting = {rid: at for rid, (_, at) in journal.items() if rid not in answered}
        if waiting:
            collected = client.collect(list(waiting), min(waiting.values()))
            for rid, response in collected.responses.items():
                _append(answers, rid, _outcome(response))
                answered[rid] = _outcome(response)
        done = {journal[rid][0] for rid in answered if rid in journal}
        todo = [n for n in sorted(queries) if n not in done]

        def requests() -> Iterator[Request]:
            started = time.monotonic()
            for count, n in enumerate(todo):
                request = client.build(queries[n], context)
                _append(sent, str(n), request.request_id, datetime.now(UTC).isoformat())
                ahead = count / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
                yield request

        for response in client.send_requests(requests()):
            _append(answers, response.request_id, _outcome(response))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
