"""The night-shift theme: a dark version of every staff page, following the system unless the user chose otherwise.

Quasar's dark mode (`ui.dark_mode`, the `body--dark` class) turns Quasar's own widgets (inputs, menus, dialogs,
tables) dark; the rules below do the same for Vigil's own classes (components/theme.py and the pages' styles).
Every text colour here reaches WCAG AA (4.5:1) on the surface it sits on (tests/test_dark_theme.py). Priority
colours stay the ones of components/theme.py (its CSS variables); text drawn in a priority colour on a dark surface
is mixed towards white.
"""

import json
from typing import Literal, cast

from nicegui import ui

from .assets import Asset
from .preferences import Preferences

ThemeMode = Literal['system', 'light', 'dark']
MODES: dict[ThemeMode, str] = {'system': 'System', 'light': 'Light', 'dark': 'Dark'}
_DARK_VALUES: dict[ThemeMode, bool | None] = {'system': None, 'light': False, 'dark': True}
PAGE = '#121212'  # Quasar's dark page background (--q-dark-page)
HEADER_LIGHT, HEADER_DARK = '#0b5cad', '#10263d'  # also the phone's status bar (theme-color) in each theme

# NOTE: `@layer overrides` with !important: Quasar's colour classes (text-grey-7, text-negative...) are !important
# inside the `quasar_importants` layer that NiceGUI's index.html declares last, and for !important declarations an
# earlier layer wins over a later one and over every unlayered rule.
_CSS = '''
<style>
.vigil-theme-choice .q-btn { min-height: 44px; min-width: 44px; padding: 0 10px; }
body.body--dark { --vigil-surface: #1e1e1e; --vigil-raised: #2a2a2a; --vigil-line: #3d3d3d; --vigil-text: #e8e8e8;
  --vigil-muted: #b3b3b3; --vigil-link: #90caf9; --vigil-error: #ff8a80; color: var(--vigil-text);
  color-scheme: dark; /* scroll bars and native controls too (NiceGUI's meta tag says "normal" in auto mode) */ }
@layer overrides {
  body.body--dark .text-grey-6, body.body--dark .text-grey-7 { color: var(--vigil-muted) !important; }
  body.body--dark .text-grey-8 { color: #cfcfcf !important; }
  body.body--dark .text-negative { color: var(--vigil-error) !important; }
  body.body--dark .text-primary { color: var(--vigil-link) !important; }
  body.body--dark .q-header.bg-primary { background: ''' + HEADER_DARK + ''' !important; }
}
:where(body.body--dark) a { color: var(--vigil-link); }
body.body--dark .vigil-panel, body.body--dark .vigil-metric, body.body--dark .vigil-card,
body.body--dark .vigil-alert, body.body--dark .vigil-history-item { background: var(--vigil-surface);
  box-shadow: 0 1px 3px rgba(0,0,0,.6); }
body.body--dark .vigil-person { border-color: var(--vigil-line); }
/* Only the grey sides: the priority colours of components/theme.py stay on the left edge and on alarmed cards. */
body.body--dark .vigil-alert, body.body--dark .vigil-history-item { border-top-color: var(--vigil-line);
  border-right-color: var(--vigil-line); border-bottom-color: var(--vigil-line); }
body.body--dark .vigil-card:not(.vigil-card-critical, .vigil-card-high) { border-color: var(--vigil-line); }
body.body--dark .vigil-alert-critical.vigil-alert-active {
  background: color-mix(in srgb, var(--vigil-critical) 22%, #161616); }
body.body--dark .vigil-metric-alarm { background: var(--vigil-critical); color: var(--vigil-critical-text); }
body.body--dark .vigil-metric-alarm .vigil-metric-label { color: var(--vigil-critical-text); }

/* Text in a priority or status colour: mixed towards white until it reads on a dark surface. */
body.body--dark .vigil-status-active { color: color-mix(in srgb, var(--vigil-critical) 45%, #fff); }
body.body--dark .vigil-status-acknowledged { color: var(--vigil-link); }
body.body--dark .vigil-status-resolved { color: #81c784; }
body.body--dark .vigil-alert-error, body.body--dark .vigil-obs-overdue, body.body--dark .vigil-rule-error {
  color: var(--vigil-error); }
body.body--dark .vigil-alert-meta, body.body--dark .vigil-age, body.body--dark .vigil-card-foot,
body.body--dark .vigil-metric-label, body.body--dark .vigil-person-role, body.body--dark .vigil-history-meta,
body.body--dark .vigil-trail-head, body.body--dark .vigil-now-foot, body.body--dark .vigil-patient-meta,
body.body--dark .vigil-audit-sub, body.body--dark .vigil-rule-origin, body.body--dark .vigil-scale-meta,
body.body--dark .vigil-scale-history li > span:first-child, body.body--dark .vigil-audit th,
body.body--dark .vigil-admin-table th, body.body--dark .vigil-conn-age::before,
body.body--dark .vigil-trail-row > span:nth-child(4) { color: var(--vigil-muted); }
body.body--dark .vigil-card-bed, body.body--dark .vigil-trail details > summary { color: var(--vigil-link); }
body.body--dark .vigil-scale-2 { color: #c5cae9; }
body.body--dark .vigil-chip-scale2 { background: #283593; color: #e8eaf6; box-shadow: inset 0 0 0 1px #7986cb; }

/* Buttons drawn by Vigil itself (alert rows, "more below", the raise button on a card). */
body.body--dark .vigil-btn-outline { background: transparent; color: #81c784; border-color: #81c784; }
body.body--dark .vigil-btn-outline:hover:enabled { background: #1c3320; }
body.body--dark .vigil-btn-quiet { background: transparent; color: #c5b3ef; border-color: #9575cd; }
body.body--dark .vigil-btn-quiet:hover:enabled { background: #2a2140; }
body.body--dark .vigil-more { background: #16324f; color: #cfe6fb; }
body.body--dark .vigil-more:hover { background: #1d4066; }
body.body--dark .vigil-card-raise { color: var(--vigil-error); background: none; }
body.body--dark .vigil-card-raise:hover { background: #3d1a1a; }

/* Vital sign cells and NEWS2: the band colours stay the RCP chart's, with dark text on the light ones. */
body.body--dark .vigil-vital:not(.vigil-band-1, .vigil-band-2, .vigil-band-3) { background: var(--vigil-raised); }
body.body--dark .vigil-vital-missing .vigil-vital-value { color: var(--vigil-muted); }
body.body--dark .vigil-vital.vigil-vital-stale, body.body--dark .vigil-news2-stale {
  background: repeating-linear-gradient(135deg, #2a2a2a 0 6px, #333 6px 12px);
  color: #cfcfcf; }
body.body--dark .vigil-vital-pending, body.body--dark .vigil-news2-pending { outline-color: #bcaaa4; }
body.body--dark .vigil-news2-table thead th { color: #cfcfcf; }
body.body--dark .vigil-news2-missing td, body.body--dark .vigil-news2-missing th { color: var(--vigil-muted); }
body.body--dark .vigil-band-1, body.body--dark .vigil-band-2, body.body--dark .vigil-risk-low-medium,
body.body--dark .vigil-risk-medium { color: #1a1a1a; }

/* Tables and lists: lines a shade above the surface. */
body.body--dark .vigil-audit th { background: var(--vigil-surface); border-bottom-color: var(--vigil-line); }
body.body--dark .vigil-audit td, body.body--dark .vigil-audit tr, body.body--dark .vigil-admin-table th,
body.body--dark .vigil-admin-table td, body.body--dark .vigil-admin-table tr, body.body--dark .vigil-rule,
body.body--dark .vigil-trail-row, body.body--dark .vigil-trail details > summary,
body.body--dark .vigil-scale-history li, body.body--dark .vigil-news2-table th,
body.body--dark .vigil-news2-table td { border-color: var(--vigil-line); }

/* The one-click audio unlock line (components/alarm.py): as legible, less glaring at night. */
body.body--dark .vigil-alarm-unlock { background: #4a3000; color: #ffe0b2; }

/* The critical flash alternates with the dark surface instead of white. */
body.body--dark .vigil-flash { animation-name: vigil-flash-dark; }
@keyframes vigil-flash-dark {
  0% { background: var(--vigil-critical); color: var(--vigil-critical-text); box-shadow: none; }
  50% { background: #1e1e1e; color: color-mix(in srgb, var(--vigil-critical) 45%, #fff);
    box-shadow: inset 0 0 0 2px var(--vigil-critical); } }

/* ECharts draws on a canvas that CSS cannot recolour: invert its lightness and turn the hues back, so the trend
   lines keep their colours (lighter) and the axis labels become light on the dark panel. */
body.body--dark .nicegui-echart { filter: invert(1) hue-rotate(180deg); }
</style>
'''


def mode_of(prefs: Preferences) -> ThemeMode:
    """Return the user's chosen theme (system unless they chose light or dark)."""
    value = prefs.get('theme', 'system')
    return cast(ThemeMode, value) if value in MODES else 'system'


def _status_bar(mode: ThemeMode) -> list[tuple[str, str | None]]:
    """Return the theme-color tags (colour, media query) of a choice: the phone's status bar matches the header."""
    if mode == 'system':
        return [(HEADER_LIGHT, '(prefers-color-scheme: light)'), (HEADER_DARK, '(prefers-color-scheme: dark)')]
    return [(HEADER_DARK if mode == 'dark' else HEADER_LIGHT, None)]


def _early_html(mode: ThemeMode) -> str:
    """Return the head tags that paint the page dark before any script runs (no white flash), for this choice."""
    dark_page = f'html {{ background: {PAGE}; }} html:has(> body.body--light) {{ background: #fff; }}'
    style = {'dark': dark_page, 'light': '', 'system': f'@media (prefers-color-scheme: dark) {{ {dark_page} }}'}[mode]
    metas = ''.join(f'<meta name="theme-color" content="{colour}"' + (f' media="{media}"' if media else '') + '>'
                    for colour, media in _status_bar(mode))
    return (f'<style>{style}</style>' if style else '') + metas


DARK_CSS = Asset.inner('dark.css', _CSS, 'style')  # served once as a file (components/assets.py)


def install(mode: ThemeMode = 'system') -> ui.dark_mode:
    """Add the dark theme's styles and switch Quasar's dark mode to the given choice (part of the initial HTML)."""
    ui.add_head_html(_early_html(mode) + DARK_CSS.stylesheet_tag())
    return ui.dark_mode(_DARK_VALUES[mode])


def theme_choice(prefs: Preferences, dark: ui.dark_mode) -> ui.toggle:
    """Add the System / Light / Dark choice; a change applies at once and is remembered for the user."""

    def choose(mode: ThemeMode) -> None:
        prefs.set('theme', mode)
        dark.set_value(_DARK_VALUES[mode])
        # The phone's status bar follows (the theme-color tags of the first load would keep the old choice).
        ui.run_javascript(f'''
          document.querySelectorAll('meta[name="theme-color"]').forEach((tag) => tag.remove());
          for (const [colour, media] of {json.dumps(_status_bar(mode))}) {{
            const tag = Object.assign(document.createElement('meta'), {{name: 'theme-color', content: colour}});
            if (media) tag.media = media;
            document.head.append(tag);
          }}''')

    with ui.row().classes('items-center gap-2 no-wrap'):
        ui.label('Theme').classes('text-body2')
        toggle = ui.toggle(dict(MODES), value=mode_of(prefs), on_change=lambda e: choose(e.value)) \
            .props('no-caps unelevated toggle-color=primary aria-label="Theme"').classes('vigil-theme-choice') \
            .mark('theme')
    return toggle
