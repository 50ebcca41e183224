// An HTML element whose new content is patched into the nodes already shown instead of replacing them (dom_patch.js
// says why).
import { patchChildren } from 'dom_patch';

export default {
  template: `<component :is="tag"></component>`,
  props: {
    innerHTML: String,
    tag: String,
  },
  mounted() {
    this.$el.innerHTML = this.innerHTML;
    this.shown = this.innerHTML;
  },
  updated() {
    if (this.innerHTML === this.shown) return;
    const parsed = document.createElement('template');
    parsed.innerHTML = this.innerHTML;
    patchChildren(this.$el, parsed.content);
    this.shown = this.innerHTML;
  },
};
