// Vigil's service worker (served at /sw.js, scope /): the installable web app's shell, never patient data.
//
// Rules, in order (anything not matched is left to the browser, untouched):
// 1. Only GET requests to this origin are looked at.
// 2. Never from the cache: /api/, the socket (/_nicegui_ws/), /healthz and the other probes, pages, and
//    everything else not listed in 3.
// 3. Cache first: NiceGUI's versioned assets (/_nicegui/<version>/static|components|libraries|resources|esm/...,
//    which never change under one address) and Vigil's icons (/pwa/...).
// 4. A page (a top-level navigation) always goes to the network; only when the network fails does the offline
//    page answer instead, saying so. Pages are never stored.
// The cache name carries Vigil's version: a new version installs a new cache and deletes the old ones.
'use strict';
const VERSION = '__VIGIL_VERSION__';
const CACHE = 'vigil-shell-' + VERSION;
const OFFLINE_PAGE = '/pwa/offline.html';
const SHELL = [OFFLINE_PAGE, '/pwa/icon.svg', '/pwa/icon-192.png', '/pwa/icon-512.png'];
const CACHE_FIRST = [
  /^\/_nicegui\/\d[^/]*\/(static|components|libraries|resources|esm)\//,
  /^\/pwa\//,
];
const NEVER = [/^\/api\//, /^\/_nicegui_ws\//, /^\/(healthz|readyz|metrics)\b/];

function cacheFirst(path) {
  return !NEVER.some((rule) => rule.test(path)) && CACHE_FIRST.some((rule) => rule.test(path));
}

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name.startsWith('vigil-shell-') && name !== CACHE)
      .map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (cacheFirst(url.pathname)) {
    event.respondWith(caches.open(CACHE).then(async (cache) => {
      const cached = await cache.match(request);
      if (cached) return cached;
      const response = await fetch(request);
      if (response.ok) cache.put(request, response.clone());
      return response;
    }));
  } else if (request.mode === 'navigate' && request.destination === 'document'
             && !NEVER.some((rule) => rule.test(url.pathname))) {
    event.respondWith(fetch(request).catch(async () => (await caches.match(OFFLINE_PAGE))
      || new Response('Vigil is offline. For emergencies, use the phone.',
                      {status: 503, headers: {'Content-Type': 'text/plain; charset=utf-8'}})));
  }
});
