"""The audit trail as CSV: RFC 4180 quoting, UTF-8 that spreadsheets open, no formula injection."""

import csv
import io
from collections.abc import Iterable
from datetime import tzinfo

from .audit import AuditRow

HEADER = ('Time', 'Event', 'By', 'From status', 'To status', 'Escalation level', 'Note', 'Alert', 'Alert kind',
          'Priority', 'Message', 'Ward', 'Patient', 'MRN', 'Bed')
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
            row.at.astimezone(zone).isoformat(timespec='seconds'), row.type.value, row.actor,
            row.from_status.value if row.from_status else '', row.to_status.value, row.escalation_level, row.note,
            row.alert_id, row.alert_kind.value, row.priority.value, row.message, row.ward_name, row.patient_name,
            row.patient_mrn, row.bed)])
    # The byte order mark makes spreadsheets read the file as UTF-8 (names with accents stay intact).
    return buffer.getvalue().encode('utf-8-sig')
