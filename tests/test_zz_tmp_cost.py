import time
from nicegui import Client
from nicegui.testing import User
from app.domain import Priority
from app.events import AlertRaised, AlertAcknowledged
from .test_ui_dashboard import sign_in, raise_for, running, vigil_environment

async def test_cost(user: User) -> None:
    await sign_in(user, 'admin')
    for _ in range(99):
        await user.open('/')
    vigil, hub, feed = running()
    n = len([c for c in Client.instances.values() if c.page.path == '/'])
    alert = await raise_for('AMU-01', 'x', Priority.HIGH)
    await vigil.bus.drain()
    channel = hub.channel(alert.hospital_id)
    for i in range(6):
        a = alert.model_copy(update={'id': 10000 + i, 'version': 1})
        ev = AlertRaised(hospital_id=a.hospital_id, ward_id=a.ward_id, occurred_at=a.created_at, actor='x', alert=a)
        t = time.perf_counter(); channel.alerts.emit(ev); raised = time.perf_counter() - t
        b = a.model_copy(update={'version': 2, 'status': 'acknowledged', 'acknowledged_by': 'y'})
        ev = AlertAcknowledged(hospital_id=a.hospital_id, ward_id=a.ward_id, occurred_at=a.created_at, actor='x', alert=b)
        t = time.perf_counter(); channel.alerts.emit(ev); acked = time.perf_counter() - t
        print(f'\npages={n} raise {raised*1000/n:.3f} ms/page, ack {acked*1000/n:.3f} ms/page')
