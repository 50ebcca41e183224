"""SpO2 scale 2 on screen: the patient page's panel and dialog, and the chip on the patient card (NiceGUI's user)."""

import re
from datetime import timedelta

import pytest
from nicegui import ui
from nicegui.testing import User

from .test_ui_dashboard import card_of, should_see_card
from .test_ui_pages import SIGN_IN_RETRIES, patient_id, record, running, sign_in, staff

pytestmark = pytest.mark.usefixtures('quiet_demo')

REASON = 'Confirmed hypercapnic respiratory failure'


@pytest.fixture(autouse=True)
def browser_zone(quiet_demo: None, user: User) -> None:
    """The simulated browser answers the pages' question for its time zone (after the environment is set)."""
    user.javascript_rules[re.compile('.*resolvedOptions')] = lambda _: 'Europe/Berlin'


def content(user: User, marker: str) -> str:
    return str(user.find(marker=marker).elements.pop().content)  # type: ignore[attr-defined]


async def test_a_physician_prescribes_scale_2_through_the_dialog(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    # 87 % on air for 20 s (past the SpO2 persistence delay): 3 points on scale 1, 1 point on scale 2.
    await record('Marcus Okafor', vigil.clock() - timedelta(seconds=20), spo2=87, on_oxygen=0)
    await record('Marcus Okafor', spo2=87, on_oxygen=0)
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'doctor', f'/patients/{patient}')
    await user.should_see(marker='spo2-scale-change', retries=SIGN_IN_RETRIES)
    assert 'SpO₂ scale 1' in content(user, 'spo2-scale')
    await user.should_see('No changes recorded.')
    await user.should_see('NEWS2 ≥3')

    user.find(marker='spo2-scale-change').click()
    await user.should_see('Change the SpO₂ scale')
    user.find(marker='spo2-scale-save').click()  # no reason yet
    await user.should_see('Say why (a few words): the reason goes on the record.')
    user.find(marker='spo2-scale-reason').type(REASON)
    user.find(marker='spo2-scale-save').click()

    await user.should_see('Marcus Okafor is now on SpO₂ scale 2, target 88\N{EN DASH}92 %.')
    status = content(user, 'spo2-scale')
    assert 'SpO₂ scale 2, target 88\N{EN DASH}92 %' in status
    assert 'Set by Dr Robin Asante, ' in status and REASON in status
    await user.should_see('Bed AMU-02 · Acute Medical Unit · MRN G100102 · SpO₂ scale 2')
    await user.should_see('NEWS2 ≥1')  # the displayed score follows the scale at once
    await user.should_see(kind=ui.html, content=f'SpO2 scale 2 prescribed (target 88-92 %): {REASON}')
    view = await vigil.patients.get(await staff('admin'), patient)
    assert (view.spo2_scale, view.spo2_scale_set_by, view.spo2_scale_reason) == (2, 'Dr Robin Asante (doctor)', REASON)


async def test_the_servers_refusal_is_shown(user: User) -> None:
    await user.open('/login')
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'admin', f'/patients/{patient}')
    await user.should_see(marker='spo2-scale-change', retries=SIGN_IN_RETRIES)
    user.find(marker='spo2-scale-change').click()
    await user.should_see('Change the SpO₂ scale')
    vigil, _ = running()
    await vigil.prescriptions.set_spo2_scale(await staff('doctor'), patient, 2, REASON)  # meanwhile, elsewhere

    user.find(marker='spo2-scale-reason').type('hypercapnia')
    user.find(marker='spo2-scale-save').click()

    await user.should_see('Marcus Okafor is on SpO2 scale 2 already; nothing was changed.')
    history = await vigil.prescriptions.spo2_scale_history(await staff('admin'), patient)
    assert [e.actor for e in history] == ['Dr Robin Asante (doctor)']  # recorded with the username


async def test_a_nurse_sees_the_scale_but_no_button(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    patient = await patient_id('Marcus Okafor')
    await vigil.prescriptions.set_spo2_scale(await staff('doctor'), patient, 2, REASON)

    await sign_in(user, 'nurse', f'/patients/{patient}')

    await user.should_see(marker='spo2-scale', retries=SIGN_IN_RETRIES)
    assert 'SpO₂ scale 2, target 88\N{EN DASH}92 %' in content(user, 'spo2-scale')
    await user.should_see(kind=ui.html, content=f'SpO2 scale 2 prescribed (target 88-92 %): {REASON}')
    await user.should_not_see(marker='spo2-scale-change')


async def test_an_open_patient_page_and_dashboard_follow_a_prescription_made_elsewhere(user: User) -> None:
    await user.open('/login')
    vigil, hub = running()
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'nurse', f'/patients/{patient}')
    await user.should_see(marker='spo2-scale', retries=SIGN_IN_RETRIES)

    await vigil.prescriptions.set_spo2_scale(await staff('doctor'), patient, 2, REASON)
    await vigil.bus.drain()
    hub.flush_vitals()

    await user.should_see('Bed AMU-02 · Acute Medical Unit · MRN G100102 · SpO₂ scale 2')
    await user.should_see(kind=ui.html, content=f'SpO2 scale 2 prescribed (target 88-92 %): {REASON}')
    await user.open('/')
    await should_see_card(user, patient)
    assert 'Scale 2' in card_of(user, patient)

    await vigil.prescriptions.set_spo2_scale(await staff('admin'), patient, 1, 'prescribed in error')
    await vigil.bus.drain()
    hub.flush_vitals()

    assert 'Scale 2' not in card_of(user, patient)
