// What both widgets use: where the browser reaches a server, and words filled in.
//
// Where: the browser that shows the notebook must reach a server listening on the kernel's machine.
// labkit's servers bind 127.0.0.1 on the kernel's machine. A browser on that same machine
// (JupyterLab opened on localhost) reaches them as they are. On JupyterHub or Binder the page
// comes from elsewhere and its 127.0.0.1 is the student's own computer: there the only way in
// is jupyter-server-proxy, which relays PATH under <base URL>proxy/PORT/ to 127.0.0.1:PORT/PATH,
// HTTP and WebSocket alike, on the page's own scheme (https pages need wss).
//
// Both widgets' modules start with this file (labkit/widgets.py puts it first: no build step).

const LOOPBACK = /^(localhost|.+\.localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|::1)$/i;

/** The Jupyter server's base URL from the page config JupyterLab and Notebook 7 put in the page, or null. */
export function jupyterBaseUrl(doc = document) {
  const config = doc.getElementById("jupyter-config-data");
  if (!config) return null;
  try {
    const baseUrl = JSON.parse(config.textContent).baseUrl;
    return typeof baseUrl === "string" ? baseUrl : null;
  } catch {
    return null;
  }
}

/** What reachable() needs to know about the page that shows the notebook. */
export function pageLocation() {
  const { protocol, host, hostname } = window.location;
  return { protocol, host, hostname, baseUrl: jupyterBaseUrl() };
}

/**
 * The URL the browser should use for `url` (a server on the kernel's machine), and how:
 * "direct" (the page is on a loopback name), "proxy" (through jupyter-server-proxy), or
 * "unsure" (the page is elsewhere and no proxy route is known: the URL is left as it is).
 * `proxy` is true when the kernel's Python has jupyter-server-proxy installed.
 */
export function reachable(url, page, proxy) {
  if (LOOPBACK.test(page.hostname)) return { url, how: "direct" };
  if (!proxy || page.baseUrl === null || page.baseUrl === undefined) return { url, how: "unsure" };
  const target = new URL(url);
  const secure = page.protocol === "https:";
  const websocket = target.protocol === "ws:" || target.protocol === "wss:";
  const scheme = websocket ? (secure ? "wss" : "ws") : secure ? "https" : "http";
  const port = target.port || (target.protocol === "wss:" || target.protocol === "https:" ? "443" : "80");
  let base = page.baseUrl.startsWith("/") ? page.baseUrl : `/${page.baseUrl}`;
  if (!base.endsWith("/")) base += "/";
  return { url: `${scheme}://${page.host}${base}proxy/${port}${target.pathname}${target.search}`, how: "proxy" };
}

/** A sentence from Python (in the lesson's language) with its `{names}` filled in. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
