// A bar of a user's choices (the Alert List's filters, the Patient Cards' order and wards) as plain HTML controls in
// one element: native selects, a toggle of pressed buttons, and a multiple choice of checkboxes behind a button. Each
// change goes to the server as one event ({name: value}); the server remembers it and applies it. The controls keep
// their own state: the server never re-sends them.
export default {
  template: `
    <div class="vigil-choices">
      <template v-for="field in fields" :key="field.name">
        <label v-if="field.kind === 'select'" class="vigil-field" :data-choice="field.name">
          <span class="vigil-field-label">{{ field.label }}</span>
          <select :value="indexOf(field)" @change="pick(field, field.options[$event.target.value][0])">
            <option v-for="(option, index) in field.options" :key="index" :value="index">{{ option[1] }}</option>
          </select>
        </label>
        <div v-else-if="field.kind === 'multi'" class="vigil-field vigil-multi" :data-choice="field.name"
             @keydown.esc="close(true)">
          <button type="button" class="vigil-multi-button" ref="opener" :aria-expanded="String(open === field.name)"
                  @click="open = open === field.name ? null : field.name">
            <span :class="['vigil-field-label', {'vigil-field-empty': !chosen(field).length}]">{{ field.label }}</span>
            {{ chosenText(field) }}
          </button>
          <div v-show="open === field.name" class="vigil-multi-panel" role="group" :aria-label="field.label">
            <label v-for="option in field.options" :key="option[0]" class="vigil-check">
              <input type="checkbox" :checked="chosen(field).includes(option[0])"
                     @change="flip(field, option[0], $event.target.checked)">{{ option[1] }}
            </label>
          </div>
        </div>
        <div v-else class="vigil-toggle" role="group" :aria-label="field.label" :data-choice="field.name">
          <button v-for="option in field.options" :key="option[0]" type="button"
                  :aria-pressed="String(local[field.name] === option[0])" @click="pick(field, option[0])">
            {{ option[1] }}
          </button>
        </div>
      </template>
    </div>`,
  props: {
    fields: Array,
    values: Object,
  },
  data() {
    return { local: { ...(this.values || {}) }, open: null };
  },
  mounted() {
    this.outside = (event) => { if (this.open && !this.$el.contains(event.target)) this.close(false); };
    document.addEventListener('pointerdown', this.outside);
    this.$el.addEventListener('focusout', (event) => {
      if (this.open && !this.$el.contains(event.relatedTarget)) this.close(false);
    });
  },
  unmounted() {
    document.removeEventListener('pointerdown', this.outside);
  },
  methods: {
    indexOf(field) {
      return Math.max(0, field.options.findIndex((option) => option[0] === this.local[field.name]));
    },
    chosen(field) {
      return this.local[field.name] || [];
    },
    chosenText(field) {
      const chosen = this.chosen(field);
      return field.options.filter((option) => chosen.includes(option[0])).map((option) => option[1]).join(', ');
    },
    pick(field, value) {
      if (this.local[field.name] === value) return;
      this.local[field.name] = value;
      this.$emit('change', { [field.name]: value });
    },
    flip(field, value, on) {
      const chosen = this.chosen(field).filter((v) => v !== value);
      if (on) chosen.push(value);
      // In the order of the options, as the server lists them.
      const ordered = field.options.map((option) => option[0]).filter((v) => chosen.includes(v));
      this.local[field.name] = ordered;
      this.$emit('change', { [field.name]: ordered });
    },
    close(refocus) {
      this.open = null;
      if (refocus && this.$refs.opener) {
        const opener = Array.isArray(this.$refs.opener) ? this.$refs.opener[0] : this.$refs.opener;
        opener.focus();
      }
    },
  },
};
