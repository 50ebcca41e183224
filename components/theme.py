"""Colours and layout of the staff UI: alarm priorities, NEWS2 bands, and a grid that fits a wall, a tablet, a phone.

Priority colours come from one table, PRIORITY_STYLES (IEC 60601-1-8: high red, medium yellow, low cyan; Vigil's
critical is IEC high priority and flashes at 2 Hz); the CSS variables, the chips, the toasts and the kiosk take
their colours from it, and tests/test_visual_language.py checks every pair against WCAG AA. NEWS2 band colours
follow the RCP chart (1 yellow, 2 orange, 3 red). Flashing stops for users who ask for reduced motion.
"""

from dataclasses import dataclass
from typing import Literal

from nicegui import ui

from app.domain import Priority

from .assets import Asset

DASH = '\N{EN DASH}'  # shown for a value that does not exist (never a 0)


@dataclass(frozen=True)
class PriorityStyle:
    """How one alarm priority looks everywhere: always its word, never the colour alone."""

    label: str
    colour: str  # background of chips, badges and toasts; border of rows and cards
    text: str  # text on that background
    iec: Literal['high', 'medium', 'low']  # IEC 60601-1-8 alarm priority
    flashing: bool  # an active alert of this priority flashes at 2 Hz (.vigil-flash)
    quasar: str  # the same colours as Quasar palette names, for ui.notification (background, text)
    quasar_text: str


PRIORITY_STYLES: dict[Priority, PriorityStyle] = {
    Priority.CRITICAL: PriorityStyle('Critical', '#b71c1c', '#ffffff', 'high', True, 'red-10', 'white'),
    Priority.HIGH: PriorityStyle('High', '#d32f2f', '#ffffff', 'high', False, 'red-8', 'white'),
    Priority.MEDIUM: PriorityStyle('Medium', '#f9a825', '#212121', 'medium', False, 'yellow-9', 'grey-10'),
    Priority.LOW: PriorityStyle('Low', '#00acc1', '#212121', 'low', False, 'cyan-7', 'grey-10'),
}
PRIORITY_LABELS = {priority: style.label for priority, style in PRIORITY_STYLES.items()}
# The flash's second phase swaps the two colours: its page background must keep the text readable.
FLASH_OFF_BACKGROUND = '#ffffff'
# Text and background pairs outside the priority table that carry meaning (tests/test_visual_language.py checks them).
RISK_HIGH = ('#ffffff', '#c62828')  # NEWS2 7+ badge and a vital scoring 3 points
MISSING_TEXT = ('#616161', '#f5f5f5')  # a vital never measured


def priority_css() -> str:
    """Return the CSS variables and chip classes of PRIORITY_STYLES."""
    variables = ' '.join(f'--vigil-{p.value}: {s.colour}; --vigil-{p.value}-text: {s.text};'
                         for p, s in PRIORITY_STYLES.items())
    chips = '\n'.join(f'.vigil-chip-{p} {{ background: var(--vigil-{p}); color: var(--vigil-{p}-text); }}'
                      for p in (priority.value for priority in PRIORITY_STYLES))
    return f':root {{ {variables} }}\n{chips}\n'


_CSS = '''
<style>
.vigil-page { width: 100%; max-width: 1920px; margin: 0 auto; }
.vigil-dash { display: grid; gap: 16px; width: 100%; align-items: start;
  grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); grid-template-areas: "metrics metrics" "side patients"; }
/* The alerts and who is online stack in one column beside the patients: a grid area spanning two rows would share
   the patients' height between both rows and open a gap above "Staff online". */
.vigil-area-side { grid-area: side; display: flex; flex-direction: column; gap: 16px; min-width: 0; }
.vigil-area-metrics { grid-area: metrics; } .vigil-area-alerts { grid-area: alerts; }
.vigil-area-patients { grid-area: patients; } .vigil-area-presence { grid-area: presence; }
@media (max-width: 1023px) { .vigil-dash { grid-template-columns: minmax(0, 1fr);
  grid-template-areas: "metrics" "alerts" "patients" "presence"; } .vigil-area-side { display: contents; } }
@media (max-width: 599px) { .vigil-dash { grid-template-areas: "alerts" "patients" "metrics" "presence"; } }
.vigil-panel { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 12px;
  min-width: 0; }
.vigil-panel-title { font-size: 1.1rem; font-weight: 700; }
/* The Alert List's panel (components/alert_list.py): title with its count and the button on the first line, then one
   line each. */
.vigil-alerts-panel > :nth-child(n+3) { flex: 0 0 100%; min-width: 0; }
.vigil-touch { min-height: 44px; min-width: 44px; }
/* A header link (pages/frame.py): icon and word, on a phone a round button with the icon alone (as Quasar's round).
   The links sit 4 px apart (the header's gap is 8 px); the last one's margin takes the room before the controls. */
.q-header .vigil-nav { margin: 0; } .q-header .vigil-nav + .vigil-nav { margin-left: -4px; }
.q-header .vigil-nav:not(:has(+ .vigil-nav)) { margin-right: auto; }
/* Quasar's .block is display: block !important in a cascade layer, which no unlayered rule overrides: the word is
   taken out of the layout instead (the button's name is its aria-label). */
@media (max-width: 599.98px) { .vigil-nav .q-btn__content > .block, .vigil-sound .q-btn__content > .block {
    position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
  .vigil-nav .q-btn__content > .on-left { margin: 0; }
  .vigil-nav.q-btn { border-radius: 50%; padding: 0; min-width: 3em; } }

.vigil-chip { display: inline-block; padding: 1px 8px; border-radius: 999px; font-weight: 700; font-size: .8rem;
  line-height: 1.5; white-space: nowrap; }
/* Not an alarm colour: a prescription on the record (NEWS2 SpO2 scale 2). */
.vigil-chip-scale2 { background: #e8eaf6; color: #283593; box-shadow: inset 0 0 0 1px #9fa8da; }
/* 2 Hz, within IEC 60601-1-8's 1.4-2.8 Hz for high-priority alarms; two hard states, never a blend. */
.vigil-flash { animation: vigil-flash .5s step-end infinite; }
@keyframes vigil-flash {
  0% { background: var(--vigil-critical); color: var(--vigil-critical-text); box-shadow: none; }
  50% { background: #fff; color: var(--vigil-critical); box-shadow: inset 0 0 0 2px var(--vigil-critical); } }
@media (prefers-reduced-motion: reduce) { .vigil-flash { animation: none; } }

.vigil-alerts { display: flex; flex-direction: column; gap: 8px; position: relative; container-type: inline-size; }
/* Buttons beside the text wherever the row is wide enough; below it only on a phone-narrow list. */
.vigil-alert { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 6px 10px; align-items: center;
  padding: 8px 10px; border-radius: 8px; border: 1px solid #e0e0e0; border-left: 8px solid #9e9e9e;
  background: #fff; }
.vigil-alert-actions { display: flex; gap: 6px; justify-content: flex-end; }
/* A list of tablet width: the first line (priority, who, age) spans the row, the buttons sit beside the message. */
@container (max-width: 639px) { .vigil-alert { grid-template-rows: auto auto auto; row-gap: 0; }
  .vigil-alert-body { display: contents; } .vigil-alert-head { grid-column: 1 / -1; margin-bottom: 2px; }
  .vigil-alert-msg, .vigil-alert-meta, .vigil-alert-error { grid-column: 1; }
  .vigil-alert-actions { grid-column: 2; grid-row: 2 / 4; align-self: center; }
  .vigil-alert-actions .vigil-btn { padding: 0 12px; } .vigil-btn-label { display: none; } }
/* A phone: the buttons share a line below the text. */
@container (max-width: 379px) { .vigil-alert { grid-template-columns: minmax(0, 1fr); grid-template-rows: none; }
  .vigil-alert-body { display: block; } .vigil-alert-actions { grid-column: 1; grid-row: auto; }
  .vigil-alert-actions .vigil-btn { flex: 1 1 auto; } .vigil-btn-label { display: inline; } }
.vigil-alert-critical { border-left-color: var(--vigil-critical); }
.vigil-alert-critical.vigil-alert-active { background: #fdecea; }
.vigil-alert-high { border-left-color: var(--vigil-high); }
.vigil-alert-medium { border-left-color: var(--vigil-medium); }
.vigil-alert-low { border-left-color: var(--vigil-low); }
.vigil-alert-resolved { opacity: .55; }
.vigil-alert-body { min-width: 0; }
.vigil-btn { min-height: 44px; min-width: 44px; padding: 0 16px; border-radius: 4px; font: inherit; font-weight: 500;
  font-size: .9rem; cursor: pointer; border: 1px solid transparent; }
.vigil-btn:focus-visible { outline: 3px solid var(--vigil-focus, #0b5cad); outline-offset: 2px; }
.vigil-btn:disabled { opacity: .55; cursor: progress; }
.vigil-btn-primary { background: #0b5cad; color: #fff; }
.vigil-btn-primary:hover:enabled { background: #094a8c; }
.vigil-btn-outline { background: #fff; color: #1b7f2b; border-color: #1b7f2b; }
.vigil-btn-outline:hover:enabled { background: #e8f5e9; }
.vigil-btn-quiet { background: #fff; color: #5e35b1; border-color: #9575cd; display: inline-flex; align-items: center;
  justify-content: center; gap: 4px; }
.vigil-btn-quiet:hover:enabled { background: #ede7f6; }
.vigil-btn-quiet .material-icons { font-size: 1.25rem; }
.vigil-alert-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; }
.vigil-alert-who { font-weight: 600; overflow-wrap: anywhere; }
.vigil-alert-who a { color: inherit; }
.vigil-alert-msg { font-size: 1.05rem; margin: 2px 0; overflow-wrap: anywhere; }
.vigil-alert-meta { display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: .85rem; color: #424242; }
.vigil-alert-error { color: #b71c1c; font-weight: 600; font-size: .9rem; margin-top: 2px; }
.vigil-status-active { color: var(--vigil-critical); font-weight: 700; }
.vigil-status-acknowledged { color: #1565c0; font-weight: 700; }
.vigil-status-resolved { color: #2e7d32; font-weight: 700; }
.vigil-age { color: #616161; font-size: .85rem; margin-left: auto; }
/* Side by side with the patients, the list scrolls on its own so that it never pushes the rest off screen; the cue
   below it says how many rows are hidden further down (components/alert_list.py keeps it current in the browser). */
@media (min-width: 1024px) { .vigil-alerts { max-height: max(320px, calc(100vh - 330px)); overflow-y: auto;
  padding-right: 4px; } }
.vigil-more { width: 100%; min-height: 44px; border: 0; border-radius: 8px; background: #e3f2fd; color: #0b3d73;
  font: inherit; font-weight: 600; cursor: pointer; display: flex; align-items: center; justify-content: center;
  gap: 6px; }
.vigil-more:hover { background: #bbdefb; }
.vigil-more[hidden] { display: none; }

.vigil-cards { display: grid; gap: 10px; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); }
.vigil-card { position: relative; border: 1px solid #e0e0e0; border-radius: 10px; background: #fff; padding: 10px;
  min-width: 0; }
.vigil-card-critical { border: 2px solid var(--vigil-critical); }
.vigil-card-high { border: 2px solid var(--vigil-high); }
/* Bed and name on the first line, NEWS2 and the open-alert badge always on the second, whatever the name's length. */
.vigil-card-head { display: flex; align-items: baseline; gap: 6px; min-width: 0; white-space: nowrap; }
.vigil-card-bed { font-weight: 700; color: #0b5cad; }
.vigil-card-name { font-weight: 600; color: inherit; overflow: hidden; text-overflow: ellipsis; }
.vigil-card-status { display: flex; align-items: center; gap: 6px; margin-top: 4px; min-height: 24px; }
.vigil-card-status .vigil-chip { margin-left: auto; }
.vigil-vitals { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 4px; margin: 8px 0 4px; }
.vigil-vital { border-radius: 6px; padding: 2px 6px; background: #f5f5f5; line-height: 1.2; }
.vigil-vital-label { display: block; font-size: .7rem; opacity: .8; }
.vigil-vital-value { font-weight: 700; font-size: 1.05rem; white-space: nowrap; }
.vigil-vital-missing .vigil-vital-value { font-weight: 400; font-style: italic; font-size: .85rem; color: #616161; }
.vigil-vital-age, .vigil-vital-note { display: block; font-size: .68rem; opacity: .85; }
.vigil-vital-stale { background: repeating-linear-gradient(135deg, #eeeeee 0 6px, #e0e0e0 6px 12px); color: #424242; }
.vigil-vital-stale .vigil-vital-value { text-decoration: line-through; font-weight: 500; }
.vigil-vital-pending { outline: 2px dashed #6d4c41; outline-offset: -2px; }
.vigil-obs { margin-left: auto; } .vigil-obs-overdue { color: #b71c1c; font-weight: 700; }
.vigil-band-1 { background: #fff59d; } .vigil-band-2 { background: #ffb74d; }
.vigil-band-3 { background: #c62828; color: #fff; }
.vigil-risk { border-radius: 6px; padding: 1px 8px; font-weight: 700; white-space: nowrap; }
.vigil-risk-low { background: #e8f5e9; color: #1b5e20; } .vigil-risk-low-medium { background: #ffe082; }
.vigil-risk-medium { background: #ffb74d; } .vigil-risk-high { background: #c62828; color: #fff; }
.vigil-risk-unknown { background: #eeeeee; color: #616161; }
/* The NEWS2 line is the summary of the breakdown: one tap (or Enter) opens it, with a caret saying so. */
.vigil-news2 > summary { list-style: none; cursor: pointer; min-height: 44px; border-radius: 6px; }
.vigil-news2 > summary::-webkit-details-marker { display: none; }
.vigil-news2 > summary .vigil-risk::after { content: ' \\25B8'; }
.vigil-news2[open] > summary .vigil-risk::after { content: ' \\25BE'; }
.vigil-news2 > summary:focus-visible { outline: 3px solid var(--vigil-focus, #0b5cad); outline-offset: 2px; }
.vigil-news2-table { width: 100%; border-collapse: collapse; font-size: .8rem; margin: 4px 0; }
.vigil-news2-table caption { text-align: left; font-weight: 700; font-size: .8rem; padding: 2px 0; }
.vigil-news2-table th, .vigil-news2-table td { padding: 2px 4px; border-bottom: 1px solid #eeeeee; text-align: left;
  font-weight: 400; }
.vigil-news2-table thead th { font-weight: 600; color: #424242; }
.vigil-news2-table tbody th { font-weight: 600; }
.vigil-news2-table tfoot th, .vigil-news2-table tfoot td { font-weight: 700; border-bottom: 0; }
.vigil-news2-points { text-align: right !important; font-weight: 700 !important; white-space: nowrap; }
.vigil-news2-points small { font-weight: 400; white-space: normal; }
.vigil-news2-age { white-space: nowrap; }
.vigil-news2-missing td, .vigil-news2-missing th { color: #616161; font-style: italic; }
.vigil-news2-stale { background: #eeeeee; }
.vigil-news2-pending { outline: 2px dashed #6d4c41; outline-offset: -2px; }
.vigil-news2-compact { table-layout: fixed; font-size: .72rem; }
.vigil-news2-compact th, .vigil-news2-compact td { padding: 2px; overflow-wrap: anywhere; }
.vigil-news2-compact col, .vigil-news2-compact thead th:nth-child(1) { width: 27%; }
.vigil-news2-compact thead th:nth-child(2) { width: 28%; } .vigil-news2-compact thead th:nth-child(3) { width: 28%; }
.vigil-news2-compact thead th:nth-child(4) { width: 17%; }
.vigil-news2-compact .vigil-news2-age { white-space: normal; }
.vigil-card-status { flex-wrap: wrap; row-gap: 4px; }
.vigil-card-foot { font-size: .8rem; color: #616161; min-height: 44px; display: flex; align-items: center;
  padding-right: 48px; }
.vigil-card-raise { position: absolute; right: 4px; bottom: 4px; padding: 0; border-radius: 50%; background: none;
  color: #c10015; font-size: 1.5rem; display: inline-flex; align-items: center; justify-content: center; }
.vigil-card-raise:hover { background: #fdecea; }

.vigil-metrics { display: grid; gap: 8px; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); }
.vigil-metric-open { grid-column: span 2; }  /* room for its four priority chips on one line */
.vigil-metric { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 8px 12px; }
.vigil-metric-value { font-size: 1.6rem; font-weight: 700; line-height: 1.2; }
.vigil-metric-label { font-size: .8rem; color: #616161; }
.vigil-metric-alarm { background: var(--vigil-critical); color: var(--vigil-critical-text); }
.vigil-metric-alarm .vigil-metric-label { color: var(--vigil-critical-text); }
.vigil-metric-split { display: flex; gap: 6px; flex-wrap: wrap; margin-top: 4px; }

.vigil-people { display: flex; flex-wrap: wrap; gap: 6px; }
.vigil-person { border: 1px solid #e0e0e0; border-radius: 8px; padding: 4px 8px; line-height: 1.25; }
.vigil-person-role { font-size: .75rem; color: #616161; }
.vigil-person:not([data-mine]) .vigil-you { display: none; }  /* the page's own user: room_store.js, mine */
</style>
'''


# NOTE: served once as a file (components/assets.py): inlined, each open page would hold its own copy.
THEME_CSS = Asset('theme.css', 'text/css', priority_css() + Asset.inner('theme.css', _CSS, 'style').text)


def install() -> None:
    """Add the staff UI's styles to the page (part of the initial HTML, never sent over the socket)."""
    ui.add_head_html(THEME_CSS.stylesheet_tag())


def priority_chip(priority: Priority, *, flash: bool = False) -> str:
    """Return the HTML of a priority chip (critical ones may flash)."""
    css = f'vigil-chip vigil-chip-{priority.value}' + (' vigil-flash' if flash else '')
    return f'<span class="{css}">{PRIORITY_LABELS[priority]}</span>'
