"""The audit trail as CSV: RFC 4180 quoting, UTF-8 that spreadsheets open, no formula injection.

"By" names the actor as the screens do ("Jordan Ellis (via Nurse call system)"); the last column, "Recorded
actor", holds the name exactly as the trail stores it ("Jordan Ellis (via token:Nurse call system)"), for whoever
has to match the export against the database or the API. Notes are exported as recorded, also where the screens
leave out a note that only repeats the alert's message. Columns are only ever added at the end, so that
spreadsheets and scripts built on an earlier export keep working.
"""

import csv
import io
from collections.abc import Iterable
from datetime import tzinfo

from app.domain.actors import display_actor

from .audit import AuditRow

HEADER = ('Time', 'Event', 'By', 'From status', 'To status', 'Escalation level', 'Note', 'Alert', 'Alert kind',
          'Priority', 'Message', 'Ward', 'Patient', 'MRN', 'Bed', 'Recorded actor')
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection"); tab and carriage
# return belong to the list because some spreadsheets skip them before looking.
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')


def safe_cell(value: object) -> str:
    """Return the cell text, prefixed with a quote when a spreadsheet would read it as a formula."""
    text = '' if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def audit_csv(rows: Iterable[AuditRow], zone: tzinfo) -> bytes:
    """Return the rows as CSV bytes; times are ISO 8601 with their UTC offset in the given zone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator='\r\n')
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([safe_cell(value) for value in (
            row.at.astimezone(zone).isoformat(timespec='seconds'), row.type.value, display_actor(row.actor),
            row.from_status.value if row.from_status else '', row.to_status.value, row.escalation_level, row.note,
            row.alert_id, row.alert_kind.value, row.priority.value, row.message, row.ward_name, row.patient_name,
            row.patient_mrn, row.bed, row.actor)])
    # The byte order mark makes spreadsheets read the file as UTF-8 (names with accents stay intact).
    return buffer.getvalue().encode('utf-8-sig')
