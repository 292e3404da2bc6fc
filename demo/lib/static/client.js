// client.js -- stand-in for the demo apps' client bundle.
// On a server-rendered page it leaves the markup alone ("hydration" of static HTML).
// On the client-side shell (<div id="app"> empty, SSR switched off) it shows that the
// page is rendered in the browser; a real app would mount its components here.
(function () {
  var root = document.getElementById('app');
  if (!root || root.children.length) return;
  root.innerHTML = '<header class="top"><b>' + (window.__APP__ || 'demo') + ' shop</b></header>' +
    '<main><p>Client-side rendering: this page was served without server-side rendering.</p>' +
    '<p>Path: <code></code></p></main>';
  root.querySelector('code').textContent = location.pathname;
})();
