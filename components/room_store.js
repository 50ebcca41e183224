// The client-side store of a live room (live_rooms.py): rows rendered by the server, kept here by alert id,
// sorted by the attention key the server sent with each, the first `limit` shown. Slots outside the list
// (counts, footer, the alarm carrier) take the texts, classes and attributes the server computed for the room.
// A page may also filter the rows by the facets each carries (`filter`, the user's own choice), lay its own HTML
// over some rows (`overrides`: an action being saved, a refusal), patch changed rows in place instead of replacing
// them (`morph`: a press or the focus survives an update), count what it shows (`summary`), and order the rows by
// another key each carries (`order`: the patient cards' bed order beside their acuity order), and mark what in the
// rows is the page's own user's (`mine`: the elements tagged data-user="<mine>" get data-mine).
import { patch } from 'dom_patch';

function by(field) {
  return (a, b) => {
    const x = a[field], y = b[field];
    for (let i = 0; i < x.length; i++) {
      if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
  };
}

// NOTE: the rule of AlertFilters.admits (alert_filters.py) and of PatientCards.shown (card_grid.py: `wards`), whose
// copies tell the server what a page shows.
function admits(filter, row) {
  if (!filter) return true;
  const [ward, priority, status] = row.f || [];
  if (filter.wards && !filter.wards.includes(ward)) return false;
  if (filter.ward_id != null && ward !== filter.ward_id) return false;
  if (filter.priorities && filter.priorities.length && !filter.priorities.includes(priority)) return false;
  if (filter.status == null) return true;  // no status to choose (the patient cards)
  if (status === 'resolved' || filter.status === 'open') return true;  // a resolved row lingers wherever it was
  return status === filter.status;
}

export default {
  template: `<div></div>`,
  props: {
    room: String,
    initial: Object,
    limit: Number,
    empty: String,
    prefix: String,
    filter: Object,
    overrides: Object,
    morph: Boolean,
    summary: Object,
    order: String,
    mine: Number,
  },
  watch: {
    order() { this.render(); },
    filter: { handler() { this.render(); }, deep: true },
    overrides: { handler() { this.render(); }, deep: true },
  },
  mounted() {
    this.rows = new Map();
    this.nodes = new Map();
    this.seq = -1;
    this.asked = false;
    const holder = document.createElement('template');
    holder.innerHTML = this.empty || '';
    this.emptyNode = holder.content.firstElementChild;
    this.onEvent = (message) => { if (message && message.room === this.room) this.apply(message); };
    // Children mount before NiceGUI's app creates the socket: attach once it exists.
    const attach = () => {
      if (this.gone) return;
      if (window.socket) window.socket.on('vigil_room', this.onEvent);
      else setTimeout(attach, 20);
    };
    attach();
    if (this.initial) this.apply(this.initial);
    else this.render();
  },
  unmounted() {
    this.gone = true;
    if (window.socket) window.socket.off('vigil_room', this.onEvent);
  },
  methods: {
    apply(message) {
      if (message.snapshot) {
        if (message.seq < this.seq) return;
        this.rows = new Map(message.rows.map((row) => [row.id, row]));
        this.asked = false;
      } else {
        if (message.seq <= this.seq) return;
        if (message.seq !== this.seq + 1) {
          // Missed an event of the room: ask for its snapshot (once until it comes) and show nothing stale meanwhile.
          if (!this.asked) { this.asked = true; this.$emit('resync'); }
          return;
        }
        for (const row of message.upsert || []) {
          const held = this.rows.get(row.id);
          if (!held || row.v >= held.v) this.rows.set(row.id, row);
        }
        for (const id of message.remove || []) this.rows.delete(id);
      }
      this.seq = message.seq;
      this.slots(message.slots || {});
      this.render();
    },
    slots(slots) {
      for (const [name, slot] of Object.entries(slots)) {
        for (const element of document.querySelectorAll(`[data-room-slot="${this.prefix}${name}"]`)) {
          if ('text' in slot && element.textContent !== slot.text) element.textContent = slot.text;
          if ('cls' in slot && element.className !== slot.cls) element.className = slot.cls;
          for (const [attr, value] of Object.entries(slot.attrs || {})) {
            if (element.getAttribute(attr) !== value) element.setAttribute(attr, value);
          }
        }
      }
    },
    render() {
      if (!this.rows) return;  // a prop changed before the store mounted
      const root = this.$el;
      const all = [...this.rows.values()].sort(by(this.order || 'key'));
      const admitted = this.filter ? all.filter((row) => admits(this.filter, row)) : all;
      const rows = this.limit ? admitted.slice(0, this.limit) : admitted;
      const shown = new Set(rows.map((row) => row.id));
      for (const [id, entry] of this.nodes) {
        if (!shown.has(id)) { entry.node.remove(); this.nodes.delete(id); }
      }
      rows.forEach((row, index) => {
        const html = (this.overrides && this.overrides[row.id]) || row.html;
        let entry = this.nodes.get(row.id);
        if (!entry || entry.html !== html) {
          const holder = document.createElement('template');
          holder.innerHTML = html;
          const node = holder.content.firstElementChild;
          if (entry && this.morph) {
            patch(entry.node, node);  // the same nodes where they still stand for the same thing
            entry.html = html;
          } else {
            if (entry) entry.node.replaceWith(node);
            entry = { node, html };
            this.nodes.set(row.id, entry);
          }
        }
        if (this.mine != null) {
          for (const element of entry.node.querySelectorAll('[data-user]')) {
            element.toggleAttribute('data-mine', element.dataset.user === String(this.mine));
          }
        }
        // Move only what is out of place: a moved row would restart its flashing.
        if (root.children[index] !== entry.node) root.insertBefore(entry.node, root.children[index] || null);
      });
      if (this.emptyNode) {
        if (rows.length) this.emptyNode.remove();
        else if (this.emptyNode.parentNode !== root) root.appendChild(this.emptyNode);
      }
      if (this.summary) this.count(all, admitted);
    },
    count(all, admitted) {
      // NOTE: the same texts as AlertList.summary (alert_list.py) and PatientCards.summary (card_grid.py), which
      // tell the server what a page shows.
      const open = (row) => row.f[2] !== 'resolved';
      const total = all.filter(open).length;
      const shown = admitted.filter(open).length;
      const said = (template) => template.replace('{shown}', shown).replace('{total}', total);
      let text = said(shown === total ? (this.summary.all || '{total} open')
        : (this.summary.some || '{shown} of {total} open shown'));
      if (this.limit && admitted.length > this.limit) text += ` · first ${this.limit} listed`;
      const empty = admitted.length ? '' : (total ? this.summary.filtered : this.summary.none);
      for (const element of document.querySelectorAll(`[data-room-slot="${this.prefix}count"]`)) {
        if (element.textContent !== text) element.textContent = text;
      }
      for (const element of document.querySelectorAll(`[data-room-slot="${this.prefix}empty"]`)) {
        if (element.textContent !== empty) element.textContent = empty;
        element.hidden = !empty;
      }
    },
  },
};
