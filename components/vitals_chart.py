"""A patient's vital signs and NEWS2 over the last hours: small multiples on one shared time axis.

Each parameter keeps one lowest and one highest value per time bucket (the service folds the history the same
way), so the chart holds a few hundred points whatever the reading rate and a short dip stays visible. Live
readings go into the buckets as they come; the chart is re-sent at most every PUSH_SECONDS, because each send
carries the whole chart to the browser.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nicegui import background_tasks, ui

from app.clock import Clock
from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS
from app.schemas import CriticalLimitView, PatientView
from app.services.patient_history import VitalsTrend

PUSH_SECONDS = 3.0
NEWS2 = 'news2'
NEWS2_AXIS_MAX = 9


@dataclass(frozen=True)
class Panel:
    title: str
    kinds: tuple[str, ...]
    normal: tuple[float, float] | None  # the NEWS2 0-point band, shaded
    decimals: int = 0



def _unit(kind: VitalKind) -> str:
    return VITAL_SPECS[kind].shown_unit  # human units on screen (app.domain.vitals.HUMAN_UNITS); the API keeps UCUM


PANELS = (
    Panel(f'Heart rate {_unit(VitalKind.HEART_RATE)}', (VitalKind.HEART_RATE,), (51, 90)),
    Panel(f'SpO₂ {_unit(VitalKind.SPO2)}', (VitalKind.SPO2,), (96, 100)),
    Panel(f'Resp. rate {_unit(VitalKind.RESP_RATE)}', (VitalKind.RESP_RATE,), (12, 20)),
    Panel(f'Blood pressure {_unit(VitalKind.SYSTOLIC_BP)}', (VitalKind.SYSTOLIC_BP, VitalKind.DIASTOLIC_BP),
          (111, 219)),
    Panel(f'Temperature {_unit(VitalKind.TEMPERATURE)}', (VitalKind.TEMPERATURE,), (36.1, 38.0), 1),
    Panel('NEWS2', (NEWS2,), None),
)
SERIES_NAMES = {VitalKind.HEART_RATE: 'Heart rate', VitalKind.SPO2: 'SpO₂', VitalKind.RESP_RATE: 'Resp. rate',
                VitalKind.SYSTOLIC_BP: 'Systolic', VitalKind.DIASTOLIC_BP: 'Diastolic',
                VitalKind.TEMPERATURE: 'Temperature', NEWS2: 'NEWS2'}
COLOURS = {VitalKind.HEART_RATE: '#c62828', VitalKind.SPO2: '#1565c0', VitalKind.RESP_RATE: '#2e7d32',
           VitalKind.SYSTOLIC_BP: '#6a1b9a', VitalKind.DIASTOLIC_BP: '#ab47bc', VitalKind.TEMPERATURE: '#ef6c00',
           NEWS2: '#37474f'}
SERIES: tuple[str, ...] = tuple(kind for panel in PANELS for kind in panel.kinds)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class VitalsChart:
    """The trend chart of one patient page; `load` takes the service's trend, `add` a live patient view."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._width = 60
        self._hours = timedelta(hours=6)
        self._since = clock() - self._hours
        self._loaded_span = self._hours
        self._buckets: dict[str, dict[int, list[float]]] = {kind: {} for kind in SERIES}
        self._seen: dict[str, datetime] = {}
        self._last_push = 0.0
        self._push_task: asyncio.Task[None] | None = None
        self.chart = ui.echart(self._options({})).classes('w-full').style('height: 780px').mark('vitals-chart')

    def load(self, trend: VitalsTrend, limits: tuple[CriticalLimitView, ...], spo2_scale: int) -> None:
        """Show a trend freshly loaded from the database (replacing what was shown)."""
        self._width = trend.bucket_seconds
        self._hours = timedelta(hours=trend.hours)
        self._since = trend.since
        self._loaded_span = trend.until - trend.since
        self._buckets = {kind: {} for kind in SERIES}
        for kind, points in trend.series.items():
            if kind in self._buckets:
                self._buckets[kind] = {int(p.at.timestamp()): [p.low, p.high] for p in points}
        self._buckets[NEWS2] = {int(p.at.timestamp()): [p.total, p.total] for p in trend.news2}
        self._seen = {}
        self.chart.options.clear()
        self.chart.options.update(self._options(self._limit_lines(limits, spo2_scale)))
        self._refresh_data()
        self._push()

    def add(self, patient: PatientView) -> None:
        """Fold the newest values of a live update into the chart."""
        changed = False
        newest: datetime | None = None
        for kind in SERIES:
            if kind == NEWS2:
                continue
            vital = patient.latest.get(VitalKind(kind))
            if vital is None or (kind in self._seen and vital.measured_at <= self._seen[kind]):
                continue
            self._seen[kind] = vital.measured_at
            self._fold(kind, vital.measured_at, vital.value)
            newest = max(newest or vital.measured_at, vital.measured_at)
            changed = True
        if newest is not None and patient.news2 is not None:
            self._fold(NEWS2, newest, patient.news2.total)
        if changed:
            self._refresh_data()
            self._schedule_push()

    def outgrown(self) -> bool:
        """Tell whether a window fitted to the data has grown to twice its loaded span (time to fetch it anew).

        A fitted window keeps its start while time passes, so its buckets, sized for the loaded span, add up.
        """
        return self._loaded_span < self._hours and self._clock() - self._since > 2 * self._loaded_span

    def _fold(self, kind: str, at: datetime, value: float) -> None:
        seconds = int(at.timestamp())
        start = seconds - seconds % self._width
        bucket = self._buckets[kind].get(start)
        if bucket is None:
            self._buckets[kind][start] = [value, value]
        else:
            bucket[0], bucket[1] = min(bucket[0], value), max(bucket[1], value)

    def _refresh_data(self) -> None:
        now = self._clock()
        # A fitted window keeps its start until it spans the hours asked for, then scrolls like a fixed one.
        since = int(max(self._since, now - self._hours).timestamp())
        for axis in self.chart.options['xAxis']:
            axis['min'], axis['max'] = _ms(since), _ms(now.timestamp())
        for index, kind in enumerate(SERIES):
            buckets = self._buckets[kind]
            for start in [s for s in buckets if s + self._width < since]:
                del buckets[start]  # scrolled out of the window
            data: list[list[float]] = []
            for start in sorted(buckets):
                low, high = buckets[start]
                middle = _ms(start + self._width / 2)
                data.append([middle, low])
                if high != low:
                    data.append([middle, high])
            self.chart.options['series'][index]['data'] = data
        # The NEWS2 axis always reaches into the shaded medium and high bands, so that a low score reads as low
        # (on an axis of 0-1 a score of 0 would vanish into the axis line).
        highest = int(max((high for _, high in self._buckets[NEWS2].values()), default=0))
        self.chart.options['yAxis'][-1]['max'] = max(NEWS2_AXIS_MAX, -(-(highest + 1) // 3) * 3)  # ticks every 3

    def _schedule_push(self) -> None:
        if self._push_task is not None:
            return
        delay = self._last_push + PUSH_SECONDS - asyncio.get_running_loop().time()
        if delay <= 0:
            self._push()
        else:
            self._push_task = background_tasks.create(self._push_later(delay), name='vitals chart push')

    async def _push_later(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self._push()
        finally:
            self._push_task = None

    def _push(self) -> None:
        self._last_push = asyncio.get_running_loop().time()
        if not self.chart.is_deleted:
            self.chart.update()

    def _limit_lines(self, limits: tuple[CriticalLimitView, ...], spo2_scale: int) -> dict[str, list[float]]:
        by_parameter = {limit.parameter: limit for limit in limits}
        lines: dict[str, list[float]] = {}
        for kind in SERIES:
            parameter = 'spo2_scale2' if kind == VitalKind.SPO2 and spo2_scale == 2 else kind
            limit = by_parameter.get(parameter)
            if limit is not None:
                lines[kind] = [value for value in (limit.low, limit.high) if value is not None]
        return lines

    def _options(self, lines: dict[str, list[float]]) -> dict[str, Any]:
        rows = len(PANELS)
        grids, x_axes, y_axes, series, titles = [], [], [], [], []
        for index, panel in enumerate(PANELS):
            top = index * 100 / rows
            grids.append({'left': 52, 'right': 18, 'top': f'{top + 3.2:.2f}%', 'height': f'{100 / rows - 6.4:.2f}%'})
            titles.append({'text': panel.title, 'top': f'{top:.2f}%', 'left': 52,
                           'textStyle': {'fontSize': 13, 'fontWeight': 600, 'color': '#37474f'}})
            x_axes.append({'type': 'time', 'gridIndex': index,
                           'axisLabel': {'show': index == rows - 1, 'hideOverlap': True},
                           'splitLine': {'show': True, 'lineStyle': {'color': '#eeeeee'}}})
            y_axes.append({'type': 'value', 'gridIndex': index, 'scale': True, 'splitNumber': 3,
                           'minInterval': 1, 'axisLabel': {'fontSize': 11},
                           'splitLine': {'lineStyle': {'color': '#f0f0f0'}},
                           **({'min': 0, 'scale': False} if panel.kinds == (NEWS2,) else {})})
            for kind in panel.kinds:
                entry: dict[str, Any] = {
                    'name': SERIES_NAMES[kind], 'type': 'line', 'xAxisIndex': index, 'yAxisIndex': index,
                    'showSymbol': False, 'symbolSize': 4, 'sampling': 'none', 'animation': False, 'data': [],
                    'lineStyle': {'width': 1.6}, 'color': COLOURS[kind],
                }
                if kind == NEWS2:
                    entry['step'] = 'end'
                    entry['markArea'] = {'silent': True, 'data': [
                        [{'yAxis': 5, 'itemStyle': {'color': 'rgba(255,183,77,0.18)'}}, {'yAxis': 7}],
                        [{'yAxis': 7, 'itemStyle': {'color': 'rgba(229,57,53,0.14)'}}, {'yAxis': 20}]]}
                elif panel.normal is not None and kind == panel.kinds[0]:
                    low, high = panel.normal
                    entry['markArea'] = {'silent': True, 'itemStyle': {'color': 'rgba(76,175,80,0.09)'},
                                         'data': [[{'yAxis': low}, {'yAxis': high}]]}
                if lines.get(kind):
                    entry['markLine'] = {'silent': True, 'symbol': 'none', 'label': {'show': False},
                                         'lineStyle': {'color': '#d32f2f', 'type': 'dashed', 'width': 1},
                                         'data': [{'yAxis': value} for value in lines[kind]]}
                series.append(entry)
        return {
            'animation': False, 'title': titles, 'grid': grids, 'xAxis': x_axes, 'yAxis': y_axes, 'series': series,
            'tooltip': {'trigger': 'axis', 'axisPointer': {'type': 'line'}},
            'axisPointer': {'link': [{'xAxisIndex': 'all'}]},
            'legend': {'show': False},
        }
