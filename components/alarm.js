// Vigil's alarm signals and toasts in the browser (components/alarm.py sends the signal table and the page's settings).
// The page's signals room (components/signal_rooms.py) sends a small state only when it changes: unacknowledged
// alerts per priority, how many wait, the top waiting alert and the newest one; and which alert to toast, with its
// text and look, and which toasts to take away. A wall display's room writes the state into the carrier instead. Everything with a clock runs here: the IEC 60601-1-8 patterns (Web Audio), the
// pause countdown, the tab title and favicon count, browser notifications while the tab is hidden.
(() => {
  'use strict';
  if (window.vigilAlarm) return;
  const ORDER = ['critical', 'high', 'medium', 'low'];
  const alarm = window.vigilAlarm = {
    // Test hook: every pattern the scheduler starts, whether or not the browser lets it sound yet.
    started: [],
    notified: [],
    snapshots: 0,  // test hook: how many snapshots of its signals room the page applied
    config: {signals: {}, audible: [], enabled: false, notify: false, title: document.title, kiosk: false,
      pauseSeconds: 120},
    state: null,
    pausedUntil: 0,
    playing: null,  // the priority whose pattern runs now
  };
  let context = null, wave = null, current = null, timer = null, ticker = null, seen = null, baseIcon = null;
  let shownIcon = 0;

  function running() { return !!context && context.state === 'running'; }

  function unlock() {
    try {
      if (!context) {
        context = new (window.AudioContext || window.webkitAudioContext)();
        context.onstatechange = () => {
          if (running() && current) {  // the pattern that waited for the unlock sounds now, from its start
            const priority = current.priority;
            stop();
            start(priority);
          }
          paint();
        };
      }
      if (context.state === 'suspended') context.resume().catch(() => {});
    } catch (error) { context = null; }
    paint();
  }
  for (const type of ['pointerdown', 'keydown', 'touchstart']) {
    document.addEventListener(type, unlock, {passive: true, capture: true});
  }
  // A browser that already allows sound here (an earlier click on this site, a kiosk browser started with
  // --autoplay-policy=no-user-gesture-required) runs the context at once; the others keep it suspended until a click.
  unlock();

  function pulse(at, seconds, pitch) {
    // A fundamental with four harmonics (IEC 60601-1-8 asks for at least four within 15 dB): recognisable as an
    // alarm and audible through noise, unlike a pure sine.
    if (!wave) {
      const real = new Float32Array([0, 1, 0.6, 0.45, 0.35, 0.25]);
      wave = context.createPeriodicWave(real, new Float32Array(real.length));
    }
    const tone = context.createOscillator(), gain = context.createGain();
    tone.setPeriodicWave(wave);
    tone.frequency.value = pitch;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    gain.gain.setValueAtTime(0.3, at + seconds - 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + seconds);
    tone.connect(gain).connect(context.destination);
    tone.start(at);
    tone.stop(at + seconds + 0.02);
  }

  function burst(signal) {
    if (!running()) return false;
    const start = context.currentTime + 0.02;
    for (const offset of signal.offsets) pulse(start + offset, signal.pulse, signal.pitch);
    return true;
  }

  function counts() { return (alarm.state && alarm.state.counts) || {}; }

  // The pattern this screen should play now: the highest unacknowledged priority it sounds for.
  function wanted() {
    const config = alarm.config;
    if (!config.enabled || Date.now() < alarm.pausedUntil) return null;
    return ORDER.find((p) => config.audible.includes(p) && counts()[p] > 0) || null;
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
    current = null;
    alarm.playing = null;
  }

  function start(priority) {
    const signal = alarm.config.signals[priority];
    current = {priority: priority, count: counts()[priority]};
    alarm.playing = priority;
    alarm.started.push({priority: priority, iec: signal.iec, pulses: signal.offsets.length, at: Date.now(),
      audible: running()});
    const play = () => {
      burst(signal);
      timer = signal.repeat ? setTimeout(play, signal.repeat * 1000) : null;
    };
    play();
  }

  function schedule() {
    const priority = wanted();
    const count = priority ? counts()[priority] : 0;
    // A pattern that does not repeat (low) plays again for each new alert of its priority.
    const again = current && current.priority === priority && !timer && count > current.count;
    if (!current || current.priority !== priority || again) {
      stop();
      if (priority) start(priority);
    } else if (current) {
      current.count = count;
    }
  }

  function pause() {
    alarm.pausedUntil = Date.now() + alarm.config.pauseSeconds * 1000;
    schedule();
    clearInterval(ticker);
    ticker = setInterval(() => {
      if (Date.now() >= alarm.pausedUntil) {
        alarm.pausedUntil = 0;
        clearInterval(ticker);
        schedule();
      }
      paint();
    }, 1000);
    paint();
  }

  function resume() {
    alarm.pausedUntil = 0;
    clearInterval(ticker);
    schedule();
    paint();
  }

  function audibleTotal(state) {
    return ORDER.filter((p) => alarm.config.audible.includes(p))
      .reduce((sum, p) => sum + ((state && state.counts[p]) || 0), 0);
  }

  function left() {
    const seconds = Math.max(0, Math.ceil((alarm.pausedUntil - Date.now()) / 1000));
    return Math.floor(seconds / 60) + ':' + String(seconds % 60).padStart(2, '0');
  }

  function paint() {
    const paused = Date.now() < alarm.pausedUntil;
    const sounding = !!current && !paused;
    for (const button of document.querySelectorAll('.vigil-alarm-pause')) {
      button.hidden = !(paused || (sounding && alarm.config.enabled));
      const long = paused ? 'Sound paused ' : 'Pause sound ' + alarm.config.pauseSeconds / 60 + ' min';
      const html = '<span class="vigil-alarm-long">' + long + '</span>' + (paused ? '<span>' + left() + '</span>' : '');
      if (button.innerHTML !== html) button.innerHTML = html;
      button.setAttribute('aria-label', button.textContent);
      button.setAttribute('aria-pressed', paused ? 'true' : 'false');
      button.title = paused ? 'Resume the alarm sound now' : 'Silence the alarm sound for a while; alerts stay shown';
    }
    // Browsers play nothing before the first interaction with the page: say so while it matters.
    const locked = !running() && alarm.config.enabled && (alarm.config.kiosk || wanted() !== null);
    for (const line of document.querySelectorAll('.vigil-alarm-unlock')) {
      line.hidden = !locked;
      line.dataset.painted = '1';
    }
    paintTitle();
  }

  function paintTitle() {
    const waiting = (alarm.state && alarm.state.waiting) || 0;
    const title = (waiting ? '(' + waiting + ') ' : '') + alarm.config.title;
    if (document.title !== title) document.title = title;
    if (window.parent !== window) {
      window.parent.postMessage({vigilKiosk: 1, waiting: waiting}, location.origin);
    }
    paintIcon(waiting);
  }

  function iconLink() {
    let link = document.querySelector('link[rel~="icon"]');
    if (!link) {
      link = document.createElement('link');
      link.rel = 'icon';
      document.head.appendChild(link);
    }
    if (baseIcon === null) baseIcon = link.getAttribute('href') || '/favicon.ico';
    return link;
  }

  function paintIcon(waiting) {
    if (waiting === shownIcon || window.parent !== window) return;
    shownIcon = waiting;
    const link = iconLink();
    if (!waiting) {
      link.href = baseIcon;
      return;
    }
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const draw = canvas.getContext('2d');
    const badge = (image) => {
      if (shownIcon !== waiting) return;
      if (image) draw.drawImage(image, 0, 0, 64, 64);
      draw.fillStyle = '#b71c1c';
      draw.beginPath();
      draw.arc(40, 40, 24, 0, 2 * Math.PI);
      draw.fill();
      draw.lineWidth = 4;
      draw.strokeStyle = '#ffffff';
      draw.stroke();
      draw.fillStyle = '#ffffff';
      draw.font = 'bold 30px system-ui, sans-serif';
      draw.textAlign = 'center';
      draw.textBaseline = 'middle';
      draw.fillText(waiting > 9 ? '9+' : String(waiting), 40, 42);
      link.href = canvas.toDataURL('image/png');
    };
    const image = new Image();
    image.onload = () => badge(image);
    image.onerror = () => badge(null);
    image.src = baseIcon;
  }

  function focusAlert(id) {
    window.focus();
    const button = document.querySelector('button[data-vigil-action="acknowledge"][data-alert="' + id + '"]');
    if (button) {
      button.scrollIntoView({block: 'center'});
      button.focus();
    } else if (location.pathname !== '/') {
      location.assign('/');
    }
  }

  function notify(state) {
    const latest = state.latest, first = seen === null;
    seen = seen || new Set();
    if (!latest || seen.has(latest.key)) return;
    seen.add(latest.key);
    if (first || !alarm.config.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState !== 'hidden') return;
    // NOTE: no patient name: a lock screen is public (CLINICAL.md). The tag replaces an older one of the same alert.
    const shown = new Notification('Vigil: ' + latest.priorityLabel + ' alert', {
      body: latest.label, tag: 'vigil-alert-' + latest.id, requireInteraction: latest.priority === 'critical',
    });
    shown.onclick = () => {
      shown.close();
      focusAlert(latest.id);
    };
    alarm.notified.push({id: latest.id, priority: latest.priority, at: Date.now()});
  }

  function apply(state) {
    const before = alarm.state;
    alarm.state = state;
    // Pausing silences the alarms present, never a new one: another alert that would sound ends the pause.
    if (Date.now() < alarm.pausedUntil && before && audibleTotal(state) > audibleTotal(before)) resume();
    notify(state);
    schedule();
    paint();
  }

  function configure(config) {
    const was = alarm.config.enabled;
    Object.assign(alarm.config, config);
    if (!was && alarm.config.enabled && running()) {  // switched on: one pulse, so they know it works
      pulse(context.currentTime + 0.02, 0.15, alarm.config.signals.critical.pitch);
    }
    schedule();
    paint();
  }

  function read(carrier) {
    try {
      if (carrier.dataset.config) configure(JSON.parse(carrier.dataset.config));
      if (carrier.dataset.state) apply(JSON.parse(carrier.dataset.state));
    } catch (error) { console.error('vigil alarm state', error); }
  }

  // --- the page's signals room: state and toasts, in the room's sequence --------------------------------------------
  // NOTE: the toasts' rules are those SignalsRoom keeps for the server's view of a page (signal_rooms.py, PageToasts).
  const toasts = new Map();  // alert id -> {dismiss, passing}, oldest first
  let room = null, seq = -1, asked = false, more = null;

  function paintMore() {
    // A phone shows the newest toast only, and this button for the others (toasts.css).
    const others = toasts.size - 1;
    if (!more) {
      if (others <= 0) return;
      more = document.createElement('button');
      more.type = 'button';
      more.className = 'vigil-toasts-more';
      document.body.appendChild(more);
    }
    const html = '<span class="vigil-more-n">+' + others + ' more</span><span class="vigil-less">Show fewer</span>';
    if (more.innerHTML !== html) more.innerHTML = html;
    more.hidden = others <= 0;
  }

  function takeAway(id) {
    const toast = toasts.get(id);
    if (!toast) return;
    toasts.delete(id);
    paintMore();
    toast.dismiss();
  }

  function show(toast) {
    takeAway(toast.id);
    // Critical toasts stay until answered or dismissed; the oldest of the others go first.
    const passing = [...toasts].filter(([, shown]) => shown.passing).map(([id]) => id);
    while (toasts.size >= alarm.config.maxToasts && passing.length) takeAway(passing.shift());
    const shown = {passing: !toast.critical};
    shown.dismiss = Quasar.Notify.create(Object.assign({}, toast.options, {
      onDismiss: () => {  // dismissed here, timed out, or taken away
        if (toasts.get(toast.id) === shown) {
          toasts.delete(toast.id);
          paintMore();
        }
      },
    }));
    toasts.set(toast.id, shown);
    paintMore();
  }

  function receive(message) {
    if (!message || message.room !== room) return;
    if (message.snapshot) {
      if (message.seq < seq) return;
      asked = false;
      alarm.snapshots += 1;
      // After a load or a reconnect: answered alerts' toasts go, waiting critical ones are shown (again).
      const active = new Set(message.active);
      for (const id of [...toasts.keys()]) if (!active.has(id)) takeAway(id);
      for (const toast of message.critical) if (!toasts.has(toast.id)) show(toast);
    } else {
      if (message.seq <= seq) return;
      if (message.seq !== seq + 1) {
        // Missed an event of the room: ask for its snapshot (once until it comes).
        if (!asked && typeof emitEvent === 'function') {
          asked = true;
          emitEvent('vigil_signals_resync');  // NOTE: signal_rooms.RESYNC_EVENT
        }
        return;
      }
      for (const id of message.hide || []) takeAway(id);
      if (message.show) show(message.show);
    }
    seq = message.seq;
    if (message.state) apply(message.state);
  }

  function follow(carrier) {
    if (room || !carrier.dataset.signals) return;
    room = carrier.dataset.signals;
    // The page's script runs before NiceGUI's app creates the socket: attach once it exists.
    const attach = () => {
      if (window.socket) window.socket.on('vigil_room', receive);
      else setTimeout(attach, 20);
    };
    attach();
  }

  // The server writes the settings (and on a wall display the state) into data attributes of one element (on a staff page, the pause button's); watch it
  // (no polling).
  const watched = new WeakSet();
  function watch() {
    for (const carrier of document.querySelectorAll('.vigil-alarm-carrier')) {
      if (watched.has(carrier)) continue;
      watched.add(carrier);
      new MutationObserver(() => read(carrier)).observe(carrier, {attributes: true});
      read(carrier);
      follow(carrier);
    }
    if (document.querySelector('.vigil-alarm-unlock:not([data-painted])')) paint();  // added after the state
  }
  new MutationObserver(watch).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', watch);

  document.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest('.vigil-alarm-pause')) {
      if (Date.now() < alarm.pausedUntil) resume(); else pause();
    } else if (target.closest('.vigil-notify-toggle') && 'Notification' in window
               && Notification.permission === 'default') {
      Notification.requestPermission();  // inside the click: browsers ask only in answer to a user gesture
    } else if (target.closest('.vigil-toasts-more')) {
      document.body.classList.toggle('vigil-toasts-open');
    }
  });

  alarm.toasts = toasts;  // test hook: the toasts shown, by alert id
  alarm.pause = pause;
  alarm.resume = resume;
  alarm.running = running;
})();
