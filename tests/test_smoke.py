from app.bootstrap import Vigil
from app.domain import Priority
from app.schemas import NewAlert

from .conftest import World


async def test_raise_alert_smoke(vigil: Vigil, world: World, received: list) -> None:
    alert = await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='Patient fall', patient_id=world.a.patient_ids['North-1']))
    await vigil.bus.drain()
    assert alert.ward_name == 'North'
    assert [e.type for e in received] == ['AlertRaised']
    assert received[0].seq == 1
