// The client-side store of a live room (live_rooms.py): rows rendered by the server, kept here by alert id,
// sorted by the attention key the server sent with each, the first `limit` shown. Slots outside the list
// (counts, footer, the alarm carrier) take the texts, classes and attributes the server computed for the room.
function before(a, b) {
  for (let i = 0; i < a.key.length; i++) {
    if (a.key[i] !== b.key[i]) return a.key[i] < b.key[i] ? -1 : 1;
  }
  return 0;
}

export default {
  template: `<div></div>`,
  props: {
    room: String,
    initial: Object,
    limit: Number,
    empty: String,
    prefix: String,
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
      for (const [name, patch] of Object.entries(slots)) {
        for (const element of document.querySelectorAll(`[data-room-slot="${this.prefix}${name}"]`)) {
          if ('text' in patch && element.textContent !== patch.text) element.textContent = patch.text;
          if ('cls' in patch && element.className !== patch.cls) element.className = patch.cls;
          for (const [attr, value] of Object.entries(patch.attrs || {})) {
            if (element.getAttribute(attr) !== value) element.setAttribute(attr, value);
          }
        }
      }
    },
    render() {
      const root = this.$el;
      let rows = [...this.rows.values()].sort(before);
      if (this.limit) rows = rows.slice(0, this.limit);
      const shown = new Set(rows.map((row) => row.id));
      for (const [id, entry] of this.nodes) {
        if (!shown.has(id)) { entry.node.remove(); this.nodes.delete(id); }
      }
      rows.forEach((row, index) => {
        let entry = this.nodes.get(row.id);
        if (!entry || entry.html !== row.html) {
          const holder = document.createElement('template');
          holder.innerHTML = row.html;
          const node = holder.content.firstElementChild;
          if (entry) entry.node.replaceWith(node);
          entry = { node, html: row.html };
          this.nodes.set(row.id, entry);
        }
        // Move only what is out of place: a moved row would restart its flashing.
        if (root.children[index] !== entry.node) root.insertBefore(entry.node, root.children[index] || null);
      });
      if (this.emptyNode) {
        if (rows.length) this.emptyNode.remove();
        else if (this.emptyNode.parentNode !== root) root.appendChild(this.emptyNode);
      }
    },
  },
};
