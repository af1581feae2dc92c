/** A plain page at `/` that says what this server is and where its endpoints are. */
export function landingPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Meterway</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1d2330}
code{background:#f1f3f7;padding:.1em .3em;border-radius:3px}a{color:#2b5fd9}</style></head>
<body><h1>Meterway</h1>
<p>Per-project metrics for AI inference and GPU platforms: events in, Prometheus and OTLP out.</p>
<ul>
<li><a href="/docs">API reference</a> (OpenAPI, <a href="/docs/json">JSON</a>)</li>
<li><a href="/metrics">Gateway metrics</a></li>
<li><a href="/healthz">Health</a> and <a href="/readyz">readiness</a></li>
</ul>
<p>Scrape a project at <code>/v1/projects/{project_id}/metrics</code> with its monitoring token.</p>
</body></html>
`;
}
