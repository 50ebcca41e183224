"""Every text colour of the dark theme reaches WCAG AA (4.5:1) on what it is drawn on, read from the CSS itself."""

import re

from app.domain import Priority
from components import dark_theme, theme
from components.theme import PRIORITY_STYLES

AA = 4.5
Rgb = tuple[float, float, float]


def rgb(hex_colour: str) -> Rgb:
    digits = hex_colour.lstrip('#')
    if len(digits) == 3:
        digits = ''.join(2 * d for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def contrast(a: Rgb, b: Rgb) -> float:
    def luminance(colour: Rgb) -> float:
        channels = [c / 255 for c in colour]
        red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def variables() -> dict[str, str]:
    """The dark theme's own variables and the priority colours of components/theme.py."""
    found = dict(re.findall(r'(--vigil-[a-z-]+):\s*(#[0-9a-fA-F]{3,6})', dark_theme._CSS))
    for priority, style in PRIORITY_STYLES.items():
        found[f'--vigil-{priority.value}'] = style.colour
    return found


def resolve(value: str, names: dict[str, str]) -> Rgb | None:
    """Return a CSS colour as RGB: a hex value, a variable, or `color-mix(in srgb, A P%, B)`; None for the rest."""
    value = value.replace('!important', '').strip()
    mix = re.fullmatch(r'color-mix\(in srgb, (.+?) (\d+)%, (.+)\)', value)
    if mix:
        first, second = resolve(mix.group(1), names), resolve(mix.group(3), names)
        if first is None or second is None:
            return None
        share = int(mix.group(2)) / 100
        return (share * first[0] + (1 - share) * second[0], share * first[1] + (1 - share) * second[1],
                share * first[2] + (1 - share) * second[2])
    variable = re.fullmatch(r'var\((--[a-z-]+)\)', value)
    if variable:
        return rgb(names[variable.group(1)]) if variable.group(1) in names else None
    return rgb(value) if re.fullmatch(r'#[0-9a-fA-F]{3,6}', value) else None


def rules() -> list[tuple[str, dict[str, str]]]:
    """Return (selector, declarations) of every innermost rule (keyframe steps included)."""
    found = []
    for selector, body in re.findall(r'([^{}]+)\{([^{}]*)\}', re.sub(r'/\*.*?\*/', '', dark_theme._CSS, flags=re.S)):
        declarations = dict(re.findall(r'([a-z-]+)\s*:\s*((?:color-mix\([^)]*\([^)]*\)[^)]*\)|[^;])+)', body))
        found.append((selector.strip(), {k: v.strip() for k, v in declarations.items()}))
    return found


def light_backgrounds(selector: str) -> dict[str, Rgb]:
    """Return the backgrounds components/theme.py gives the classes of a selector that recolours only the text
    (NEWS2 bands and risk badges keep their light colours in the dark theme); empty when some class has none."""
    found = {}
    for part in selector.split(','):
        name = part.split()[-1].lstrip('.')
        match = re.search(rf'\.{re.escape(name)}\s*\{{[^}}]*?background:\s*(#[0-9a-fA-F]{{3,6}})', theme._CSS)
        if match is None:
            return {}
        found[name] = rgb(match.group(1))
    return found


def test_every_text_colour_of_the_dark_theme_reaches_aa_on_its_background() -> None:
    names = variables()
    surfaces = {'page': rgb(dark_theme.PAGE), 'panel': rgb(names['--vigil-surface']),
                'cell': rgb(names['--vigil-raised'])}
    checked = 0
    for selector, declarations in rules():
        colour = resolve(declarations.get('color', ''), names)
        if colour is None:
            continue
        background = resolve(declarations.get('background', ''), names)
        if background is not None:
            grounds = {'its own background': background}
        elif declarations.get('background') in ('transparent', 'none'):
            grounds = surfaces
        else:
            grounds = light_backgrounds(selector) or surfaces
        for where, ground in grounds.items():
            ratio = contrast(colour, ground)
            assert ratio >= AA, f'{selector}: {ratio:.2f}:1 on {where}'
            checked += 1
    assert checked > 30


def test_the_red_of_an_active_critical_row_keeps_its_text_readable() -> None:
    names = variables()
    row = resolve('color-mix(in srgb, var(--vigil-critical) 22%, #161616)', names)
    assert row is not None
    assert 'background: color-mix(in srgb, var(--vigil-critical) 22%, #161616)' in dark_theme._CSS
    for text in ('--vigil-text', '--vigil-muted', '--vigil-link'):
        assert contrast(rgb(names[text]), row) >= AA, text
    status = resolve('color-mix(in srgb, var(--vigil-critical) 45%, #fff)', names)
    assert status is not None and contrast(status, row) >= AA
    assert contrast(rgb(PRIORITY_STYLES[Priority.CRITICAL].text), rgb(PRIORITY_STYLES[Priority.CRITICAL].colour)) >= AA


def test_the_header_stays_readable_at_night() -> None:
    assert contrast((255, 255, 255), rgb(dark_theme.HEADER_DARK)) >= AA
