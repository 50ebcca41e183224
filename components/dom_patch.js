// Patching a shown DOM subtree to match newly parsed HTML, keeping every node that still stands for the same thing
// (morph_html.js for cards and alert rows, room_store.js for the rows of a room).
// Replacing a card's or a row's innerHTML swaps out the button under a finger that is pressing it: the press started
// on a node that is gone when it ends, and the browser sends no click at all (a tap on "Raise alert" lost to a
// vitals update). Patching keeps a node whenever it still stands for the same thing, so a press in progress, the
// keyboard focus and running animations survive an update of the rest of the content.
// NOTE: hand-written rather than a DOM-morphing library: the server renders a few fixed shapes of HTML, and a
// library would have to be vendored into the project and served as an asset.

// Controls are kept only when every attribute saying what they act on is the same: a pressed "Resolve" must never
// turn into "Snooze" because the button before it went away. data-version changes with every edit of an alert.
const CONTROLS = new Set(['A', 'BUTTON', 'DETAILS', 'INPUT', 'SELECT', 'SUMMARY', 'TEXTAREA']);
const IDENTITY = /^(data-(?!version$).*|aria-label|href|id|name|type)$/;

function identity(element) {
  if (!CONTROLS.has(element.nodeName)) return element.id;
  const parts = [];
  for (const { name, value } of element.attributes) {
    if (IDENTITY.test(name)) parts.push(`${name}=${value}`);
  }
  return parts.sort().join('\n');
}

function matches(shown, wanted) {
  if (shown.nodeType !== wanted.nodeType || shown.nodeName !== wanted.nodeName) return false;
  return shown.nodeType !== Node.ELEMENT_NODE || identity(shown) === identity(wanted);
}

// A <details> is opened and closed by its reader (a card's NEWS2 breakdown): a patch keeps it as they left it.
function readers(element, name) {
  return name === 'open' && element.nodeName === 'DETAILS';
}

export function patchAttributes(shown, wanted) {
  for (const { name } of [...shown.attributes]) {
    if (!wanted.hasAttribute(name) && !readers(shown, name)) shown.removeAttribute(name);
  }
  for (const { name, value } of wanted.attributes) {
    if (shown.getAttribute(name) !== value && !readers(shown, name)) shown.setAttribute(name, value);
  }
}

export function patch(shown, wanted) {
  if (shown.nodeType !== Node.ELEMENT_NODE) {
    if (shown.nodeValue !== wanted.nodeValue) shown.nodeValue = wanted.nodeValue;
    return;
  }
  patchAttributes(shown, wanted);
  patchChildren(shown, wanted);
}

// Make `parent`'s children match `source`'s, moving `source`'s unmatched nodes over (they are parsed for this).
export function patchChildren(parent, source) {
  let cursor = parent.firstChild;
  let wanted = source.firstChild;
  while (wanted) {
    const following = wanted.nextSibling;
    let found = cursor;
    while (found && !matches(found, wanted)) found = found.nextSibling;
    if (found) {
      while (cursor !== found) {  // what stood before the match is not wanted any more
        const gone = cursor;
        cursor = cursor.nextSibling;
        gone.remove();
      }
      patch(found, wanted);
      cursor = found.nextSibling;
    } else {
      parent.insertBefore(wanted, cursor);
    }
    wanted = following;
  }
  while (cursor) {
    const gone = cursor;
    cursor = cursor.nextSibling;
    gone.remove();
  }
}
