"""A worse patient behind an acknowledged alert, as staff see it through NiceGUI's simulated users (quiet demo)."""

from datetime import UTC, datetime

import pytest
from nicegui.testing import User

from app.domain import AlertKind, AlertStatus, VitalKind
from app.schemas import Actor, VitalReadingIn

from .test_detection import UNITS
from .test_ui_dashboard import (
    BUTTONS,
    TOASTS,
    clerk,
    patient,
    press,
    row_html,
    running,
    should_not_see_row,
    should_see_row,
    sign_in,
)

pytestmark = pytest.mark.usefixtures('quiet_demo')

FIVE = {'resp_rate': 21, 'spo2': 97, 'on_oxygen': 0, 'systolic_bp': 125, 'heart_rate': 111, 'consciousness': 0,
        'temperature': 38.5}  # NEWS2 5: a high alert
SEVEN = {**FIVE, 'on_oxygen': 1}  # NEWS2 7: critical


async def monitor_sends(bed: str, values: dict[str, float]) -> None:
    """A bedside monitor's full set for a demo patient, through the service as the HTTP API would store it."""
    vigil, _, _ = running()
    target = await patient(bed)
    device = Actor.system('bedside monitor', hospital_id=(await clerk()).hospital_id)
    now = datetime.now(UTC)
    await vigil.patients.record_vitals(device, [
        VitalReadingIn(patient_mrn=target.mrn, kind=VitalKind(kind), value=value, unit=UNITS[VitalKind(kind)],
                       measured_at=now) for kind, value in values.items()])


async def test_a_re_alarmed_row_asks_for_acknowledgement_again_and_every_screen_toasts_it(
        user: User, create_user: type[User]) -> None:
    charge = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(charge, 'charge')
    await monitor_sends('AMU-05', FIVE)
    vigil, _, _ = running()
    [alert] = [a for a in await vigil.alerts.list_alerts(await clerk())
               if a.kind is AlertKind.NEWS2 and a.bed == 'AMU-05']
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    press(user, 'acknowledge', alert.id)
    await should_see_row(charge, alert.id, 'Acknowledged by')
    await should_not_see_row(user, alert.id, BUTTONS['acknowledge'])

    await monitor_sends('AMU-05', SEVEN)

    # The nurse's row is waiting again, with its Acknowledge button and the current score; the charge nurse's
    # screen announces it anew.
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    assert 'NEWS2 7 (high risk, emergency response)' in row_html(user, alert.id)
    assert 'Acknowledged by' not in row_html(user, alert.id)
    await charge.should_see(marker=TOASTS, content='Worse, waiting again · Critical · AMU-05')
    await user.should_see(marker=TOASTS, content='Worse, waiting again · Critical · AMU-05')
    assert (await vigil.alerts.get(await clerk(), alert.id)).status is AlertStatus.ACTIVE
