"""Sign-in page (the staff dashboard behind it arrives with the live UI)."""

from nicegui import app as nicegui_app
from nicegui import ui

from app.bootstrap import Vigil
from app.errors import AuthenticationFailed


def register(vigil: Vigil) -> None:
    """Add /login and the / redirect to the app."""

    @ui.page('/')
    def index() -> None:
        ui.navigate.to('/login')

    @ui.page('/login', title='Vigil · Sign in')
    def login() -> None:
        async def sign_in() -> None:
            button.disable()
            try:
                user = await vigil.users.authenticate(username.value or '', password.value or '')
            except AuthenticationFailed as error:
                message.set_text(error.message)
                message.classes(replace='text-center text-negative')
                password.set_value('')
                return
            finally:
                button.enable()
            hospital = next(h for h in await vigil.hospitals.list_hospitals() if h.id == user.hospital_id)
            nicegui_app.storage.user.update(user_id=user.id, hospital_id=user.hospital_id)
            message.set_text(f'Signed in as {user.display_name} ({user.role.replace("_", " ")}, {hospital.name}). '
                             'The live dashboard is not part of this version yet.')
            message.classes(replace='text-center text-positive')

        with ui.column().classes('absolute-center items-stretch w-80 gap-4'):
            ui.label('Vigil').classes('text-h4 text-weight-bold text-center')
            ui.label('Hospital alert system').classes('text-subtitle1 text-grey-7 text-center -mt-3')
            username = ui.input('Username').props('outlined autocomplete=username autofocus')
            password = ui.input('Password', password=True).props('outlined autocomplete=current-password')
            button = ui.button('Log in', on_click=sign_in).props('unelevated no-caps size=lg')
            message = ui.label().classes('text-center')
            password.on('keydown.enter', sign_in)
