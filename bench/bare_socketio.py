"""The floor for fan-out benchmarks: bare python-socketio broadcasting one small JSON event to every socket.

    python -m bench.bare_socketio --port N

The same stack under NiceGUI (uvicorn with wsproto, python-socketio's ASGI app, the socket path NiceGUI uses), no
NiceGUI: `POST /emit?stamp=S` emits `{"stamp": S}` to every connected socket in one `emit` (serialised once) and
answers 204 once it is handed to the sockets. bench.fanout_kiosk starts it beside Vigil and times both the same way.
"""

import argparse
import urllib.parse
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode='asgi', cors_allowed_origins='*')


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    query = urllib.parse.parse_qs(scope.get('query_string', b'').decode())
    if scope['path'] == '/emit' and scope['method'] == 'POST':
        await sio.emit('alert', {'stamp': query.get('stamp', [''])[0], 'priority': 'high'})
        status = 204
    else:
        status = 200 if scope['path'] == '/healthz' else 404
    await send({'type': 'http.response.start', 'status': status, 'headers': []})
    await send({'type': 'http.response.body', 'body': b''})


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.bare_socketio')
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args()
    app = socketio.ASGIApp(sio, other_asgi_app=http, socketio_path='/_nicegui_ws/socket.io')
    uvicorn.run(app, host='127.0.0.1', port=args.port, ws='wsproto', lifespan='off', log_level='warning')


if __name__ == '__main__':
    main()
