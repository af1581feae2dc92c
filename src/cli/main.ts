#!/usr/bin/env node
/** The `meterway` command: `serve`, and REST clients for projects and tokens. */
import { readFileSync } from 'node:fs';
import { Argument, Command, Option } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { LOG_FORMATS, LOG_LEVELS } from '../config/schema.js';
import type { Integration, UpdateIntegrationInput } from '../sdk/types.js';
import { Client, CliError, DEFAULT_SERVER } from './client.js';
import { formatTable } from './table.js';
import { SHELLS, completionScript, type Shell } from './completion.js';

/** package.json sits two levels up from both src/cli/main.ts and dist/cli/main.js. */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('meterway')
  .description('Metrics export gateway for AI inference and GPU platforms')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('start the gateway (embedded defaults: SQLite under --data-dir, no other server needed)')
  .option('--host <host>', 'address to listen on (METERWAY_HOST, default 127.0.0.1)')
  .option('--port <port>', 'port to listen on (METERWAY_PORT, default 9470)')
  .option('--data-dir <dir>', 'data directory (METERWAY_DATA_DIR, default ./meterway-data)')
  .option('--config <file>', 'configuration file, YAML (.yaml, .yml) or JSON (METERWAY_CONFIG)')
  .option('--retention <duration>', 'how long the embedded time-series store keeps samples (default 15d; 0 keeps everything)')
  .option('--demo', 'also run a simulated inference platform feeding live events')
  .addOption(new Option('--log-level <level>', 'the least severe log lines written (METERWAY_LOG_LEVEL, default info)').choices(LOG_LEVELS))
  .addOption(new Option('--log-format <format>', 'logs as JSON lines, or human-readable (METERWAY_LOG_FORMAT, default auto: pretty on a terminal, JSON otherwise)').choices(LOG_FORMATS))
  .action(async (flags) => {
    const config = loadConfig(flags);
    // Before the data directory is touched: a busy port is the usual reason a start fails.
    await probeListen(config.host, config.port);
    // Loaded here, not at the top: client commands then start in a fraction of the time.
    const { createGateway } = await import('../server/gateway.js');
    const { startDemo } = await import('../sources/demo/simulator.js');
    const gw = await createGateway(config);
    let address: string;
    try {
      address = await gw.app.listen({ host: config.host, port: config.port });
    } catch (err) {
      // The port was free a moment ago; whatever this start made in the data directory goes again.
      await gw.abandon();
      throw listenError(config.host, config.port, err);
    }
    // So that the first dashboard query does not wait for the query workers to load.
    void gw.queries.warm();
    gw.log.info({ address, data_dir: config.dataDir }, 'Meterway is listening');
    if (gw.adminTokenFile !== undefined) {
      gw.log.info({ file: gw.adminTokenFile }, 'created the admin token; it is in this file (mode 0600), and only its hash is stored');
    }
    const demo = config.demo ? await startDemo(gw, gw.log.child({ component: 'demo' })) : undefined;
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      gw.log.info({ signal }, 'shutting down');
      await demo?.stop();
      await gw.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

/** Why the gateway cannot listen on host:port, in words that name the flag and variable to change. */
function listenError(host: string, port: number, err: unknown): CliError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE'
      ? `port ${port} is already in use by another program (or another Meterway); choose another port with --port or METERWAY_PORT, or stop the program that listens there`
      : code === 'EACCES'
        ? `this user may not listen on port ${port} (ports below 1024 need privileges); choose a port above 1023 with --port or METERWAY_PORT`
        : code === 'EADDRNOTAVAIL'
          ? `the address ${host} is not one of this machine's; choose another with --host or METERWAY_HOST (127.0.0.1 for this machine only, 0.0.0.0 for every interface)`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `the host name ${host} does not resolve; choose another with --host or METERWAY_HOST`
            : `${(err as Error).message}; check --host (METERWAY_HOST) and --port (METERWAY_PORT)`;
  return new CliError(`cannot listen on ${where}: ${why}. Nothing was changed in the data directory`);
}

/** Binds host:port and lets go at once: fails, as the gateway would, when it cannot listen there. */
async function probeListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const { createServer } = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(listenError(host, port, err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

const clientOptions = (cmd: Command): Command =>
  cmd
    .addOption(new Option('--server <url>', `gateway URL (default ${DEFAULT_SERVER})`).env('METERWAY_URL'))
    .addOption(new Option('--token <token>', 'API token (default: DATA_DIR/admin-token on the gateway\'s machine)').env('METERWAY_TOKEN'))
    .option('--json', 'print JSON for scripts');

/** The command whose action runs: its option sources say whether --server and --token came from a flag or the environment. */
let acting: Command | undefined;
program.hook('preAction', (_program, actionCommand) => {
  acting = actionCommand;
});
const client = (opts: { server?: string; token?: string }): Client =>
  new Client({ ...opts, serverSource: acting?.getOptionValueSource('server'), tokenSource: acting?.getOptionValueSource('token') }, process.env);

function print(opts: { json?: boolean }, data: unknown, table: () => string): void {
  console.log(opts.json ? JSON.stringify(data, null, 2) : table());
}

const PROJECT_COLUMNS = ['id', 'name', 'created_at'];
const TOKEN_COLUMNS = ['id', 'scope', 'name', 'project_id', 'prefix', 'created_at', 'last_used_at'];

const projects = program.command('projects').description('manage projects (tenants)');
clientOptions(projects.command('create').description('create a project (admin token)'))
  .requiredOption('--name <name>', 'project name')
  .option('--id <id>', 'project id, "p-" and 8 lowercase letters or digits (generated when absent)')
  .action(async (opts) => {
    const p = await client(opts).call((mw) => mw.projects.create({ name: opts.name, id: opts.id }));
    print(opts, p, () => formatTable([p], PROJECT_COLUMNS));
  });
clientOptions(projects.command('list').description('list projects')).action(async (opts) => {
  const items = await client(opts).call((mw) => mw.projects.list());
  print(opts, { items }, () => formatTable(items, PROJECT_COLUMNS));
});
clientOptions(projects.command('get').description('show a project').argument('<project-id>')).action(async (pid, opts) => {
  const p = await client(opts).call((mw) => mw.projects.get(pid));
  print(opts, p, () => formatTable([p], PROJECT_COLUMNS));
});
clientOptions(projects.command('delete').description('delete a project with its tokens and metrics (admin token)').argument('<project-id>'))
  .action(async (pid, opts) => {
    await client(opts).call((mw) => mw.projects.delete(pid));
    print(opts, { deleted: pid }, () => `deleted project ${pid}`);
  });

const tokens = program.command('tokens').description('manage API tokens');
clientOptions(tokens.command('create').description('create a token; it is printed this once only'))
  .requiredOption('--scope <scope>', 'ingest, manage or monitoring with --project; admin or ingest without')
  .requiredOption('--name <name>', 'a name to recognise it by')
  .option('--project <project-id>', 'bind the token to this project')
  .option('-q, --quiet', 'print only the token, for TOKEN=$(meterway tokens create ... -q)')
  .action(async (opts) => {
    const input = { scope: opts.scope, name: opts.name };
    const t = await client(opts).call((mw) => (opts.project ? mw.tokens.create(input) : mw.tokens.server.create(input)), opts.project);
    if (opts.quiet) return console.log(t.token);
    print(opts, t, () => `${formatTable([t], ['id', 'scope', 'name', 'project_id'])}\n\ntoken (shown once, keep it now):\n${t.token}`);
  });
clientOptions(tokens.command('list').description("list tokens (without secrets): a project's, or the server-wide ones"))
  .option('--project <project-id>', "list this project's tokens")
  .action(async (opts) => {
    const items = await client(opts).call((mw) => (opts.project ? mw.tokens.list() : mw.tokens.server.list()), opts.project);
    print(opts, { items }, () => formatTable(items, TOKEN_COLUMNS));
  });
clientOptions(tokens.command('revoke').description('revoke a token').argument('<token-id>'))
  .option('--project <project-id>', 'the project the token belongs to (omit for server-wide tokens)')
  .action(async (tid, opts) => {
    await client(opts).call((mw) => (opts.project ? mw.tokens.revoke(tid) : mw.tokens.server.revoke(tid)), opts.project);
    print(opts, { revoked: tid }, () => `revoked token ${tid}`);
  });

const integrations = program.command('integrations').description("manage a project's push integrations (OTLP, Prometheus remote write, Datadog, StatsD)");
/** The server's sink kinds (src/sinks/registry.ts; test/cli/integrations.test.ts keeps the two lists the same). */
const INTEGRATION_KINDS = ['otlp', 'prometheus_remote_write', 'datadog', 'statsd'] as const;
const INTEGRATION_COLUMNS = ['id', 'name', 'kind', 'endpoint', 'enabled', 'state', 'last_success_at', 'consecutive_failures'];
const integrationRow = (i: Integration) => ({ ...i, state: i.status.state, last_success_at: i.status.last_success_at, consecutive_failures: i.status.consecutive_failures });

/** `--header 'Name: value'`, repeatable; the value is sent to the server and never printed. */
function parseHeaders(list: string[] | undefined): Record<string, string> | undefined {
  if (list === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    // The argument may be a bare secret pasted in the wrong place: never echo any of it.
    if (i <= 0) throw new CliError(`--header must look like 'Name: value'; one of them has no name before a colon`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

function parseConfig(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (err) {
    throw new CliError(`--config-json must be a JSON object, like '{"interval_s": 30}' (${(err as Error).message})`);
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const withProject = (cmd: Command) => clientOptions(cmd).requiredOption('--project <project-id>', 'the project');
const showIntegration = (opts: { json?: boolean }, i: Integration) =>
  print(opts, i, () => `${formatTable([integrationRow(i)], INTEGRATION_COLUMNS)}${i.status.last_error ? `\nlast error: ${i.status.last_error}` : ''}${i.status.paused_reason ? `\npaused: ${i.status.paused_reason}` : ''}`);
const configOptions = (cmd: Command) =>
  cmd
    .option('--interval <seconds>', 'seconds between pushes (1 to 3600)')
    .option('--protocol <protocol>', 'http/protobuf or http/json')
    .option('--temporality <temporality>', 'cumulative or delta')
    .option('--timeout <seconds>', 'seconds before one request is given up')
    .option('--no-gzip', 'send uncompressed')
    .option('--logs', 'also forward every raw event as an OTLP log record (otlp), or as timings (statsd)')
    .addOption(new Option('--naming <naming>', 'metric names (otlp): prometheus, or otel for the semantic conventions').choices(['prometheus', 'otel']))
    .addOption(new Option('--protocol-version <version>', 'remote write version (prometheus_remote_write)').choices(['1.0', '2.0']))
    .addOption(new Option('--histograms <as>', 'histograms as distributions or as counters (datadog)').choices(['distributions', 'counters']))
    .addOption(new Option('--series-api <version>', 'v2, or v1 for receivers that only take v1 (datadog)').choices(['v2', 'v1']))
    .option('--tag <key:value>', 'an extra tag on every series (datadog; repeatable)', collect)
    .addOption(new Option('--flavor <flavor>', 'dogstatsd (labels as tags) or statsd (labels folded into the name)').choices(['dogstatsd', 'statsd']))
    .option('--prefix <prefix>', 'prepended to every metric name (statsd)')
    .option('--max-datagram-bytes <bytes>', 'largest UDP datagram to send (statsd)')
    .option('--config-json <json>', 'config as JSON, merged under the flags above');
function configFrom(opts: Record<string, any>): Record<string, unknown> | undefined {
  const c: Record<string, unknown> = { ...parseConfig(opts.configJson) };
  if (opts.interval !== undefined) c.interval_s = Number(opts.interval);
  if (opts.protocol !== undefined) c.protocol = opts.protocol;
  if (opts.temporality !== undefined) c.temporality = opts.temporality;
  if (opts.timeout !== undefined) c.timeout_s = Number(opts.timeout);
  if (opts.gzip === false) c.gzip = false;
  if (opts.logs) c.logs = true;
  if (opts.naming !== undefined) c.naming = opts.naming;
  if (opts.protocolVersion !== undefined) c.protocol_version = opts.protocolVersion;
  if (opts.histograms !== undefined) c.histograms = opts.histograms;
  if (opts.seriesApi !== undefined) c.series_api = opts.seriesApi;
  if (opts.tag !== undefined) c.tags = opts.tag;
  if (opts.flavor !== undefined) c.flavor = opts.flavor;
  if (opts.prefix !== undefined) c.prefix = opts.prefix;
  if (opts.maxDatagramBytes !== undefined) c.max_datagram_bytes = Number(opts.maxDatagramBytes);
  // The native datadog kind takes the site in its config and the key as its header; the flags are the presets' own.
  if (opts.kind === 'datadog' && opts.preset === undefined && opts.site !== undefined) c.site = opts.site;
  return Object.keys(c).length > 0 ? c : undefined;
}

withProject(integrations.command('list').description("list a project's integrations")).action(async (opts) => {
  const items = await client(opts).call((mw) => mw.integrations.list(), opts.project);
  print(opts, { items }, () => formatTable(items.map(integrationRow), INTEGRATION_COLUMNS));
});
withProject(integrations.command('get').description('show an integration and its delivery status').argument('<integration-id>')).action(async (iid, opts) => {
  showIntegration(opts, await client(opts).call((mw) => mw.integrations.get(iid), opts.project));
});
const presetOptions = (cmd: Command) =>
  cmd
    .option('--preset <name>', 'grafana-cloud, datadog, newrelic, honeycomb, prometheus or custom')
    .option('--api-key <key>', 'API key for the datadog kind and the datadog, newrelic and honeycomb presets; stored encrypted')
    .option('--instance-id <id>', 'Grafana Cloud instance id (grafana-cloud preset)')
    .option('--api-token <token>', 'Grafana Cloud token with the MetricsPublisher role (grafana-cloud preset)')
    .option('--dataset <name>', 'Honeycomb dataset (honeycomb preset)')
    .option('--site <site>', 'Datadog site, e.g. datadoghq.eu (datadog kind and preset)');
const presetBody = (opts: Record<string, any>) =>
  opts.preset === undefined ? {} : {
    preset: opts.preset,
    preset_options: Object.fromEntries(
      Object.entries({ api_key: opts.apiKey, instance_id: opts.instanceId, api_token: opts.apiToken, dataset: opts.dataset, site: opts.site }).filter(([, v]) => v !== undefined),
    ),
  };
presetOptions(configOptions(withProject(integrations.command('create').description('create an integration'))))
  .option('--name <name>', 'a name to recognise it by')
  .addOption(new Option('--kind <kind>', 'integration kind').choices(INTEGRATION_KINDS).default('otlp'))
  .option('--endpoint <url>', 'otlp: base URL (metrics go to {endpoint}/v1/metrics); prometheus_remote_write: the receiver URL; statsd: udp://host:port; datadog: none (--site)')
  .option('--header <header>', "an auth header, 'Name: value' (repeatable); stored encrypted", collect)
  .option('--disabled', 'create it disabled')
  .option('-q, --quiet', 'print only the integration id, for IID=$(meterway integrations create ... -q)')
  .action(async (opts) => {
    let authHeaders = parseHeaders(opts.header);
    if (opts.kind === 'datadog' && opts.preset === undefined && opts.apiKey !== undefined) authHeaders = { ...authHeaders, 'DD-API-KEY': opts.apiKey };
    const body = { name: opts.name, kind: opts.kind, endpoint: opts.endpoint, auth_headers: authHeaders, config: configFrom(opts), enabled: opts.disabled ? false : undefined, ...presetBody(opts) };
    showCreated(opts, await client(opts).call((mw) => mw.integrations.create(body), opts.project));
  });
presetOptions(configOptions(withProject(integrations.command('connect-otlp').description('connect an OTLP collector or backend: metrics, and with --logs raw events too'))))
  .requiredOption('--endpoint <url>', 'the collector or backend base URL, e.g. http://collector:4318')
  .option('--name <name>', 'a name to recognise it by')
  .option('--header <header>', "an auth header, 'Name: value' (repeatable); stored encrypted", collect)
  .option('-q, --quiet', 'print only the integration id, for IID=$(meterway integrations connect-otlp ... -q)')
  .action(async (opts) => {
    const body = { name: opts.name ?? 'otlp', kind: 'otlp', endpoint: opts.endpoint, auth_headers: parseHeaders(opts.header), config: configFrom(opts), ...presetBody(opts) };
    showCreated(opts, await client(opts).call((mw) => mw.integrations.create(body), opts.project));
  });
/** A created integration: its id alone with --quiet, else as `get` shows it. */
function showCreated(opts: Record<string, any>, created: Integration): void {
  if (opts.quiet) console.log(created.id);
  else showIntegration(opts, created);
}
configOptions(withProject(integrations.command('update').description('change an integration').argument('<integration-id>')))
  .option('--name <name>', 'new name')
  .option('--endpoint <url>', 'new endpoint')
  .option('--header <header>', "replace all auth headers with these, 'Name: value' (repeatable)", collect)
  .option('--clear-headers', 'remove all auth headers')
  .action(async (iid, opts) => {
    const body: UpdateIntegrationInput = { name: opts.name, endpoint: opts.endpoint, config: configFrom(opts) };
    if (opts.clearHeaders) body.auth_headers = null;
    else if (opts.header !== undefined) body.auth_headers = parseHeaders(opts.header);
    showIntegration(opts, await client(opts).call((mw) => mw.integrations.update(iid, body), opts.project));
  });
withProject(integrations.command('delete').description('delete an integration').argument('<integration-id>')).action(async (iid, opts) => {
  await client(opts).call((mw) => mw.integrations.delete(iid), opts.project);
  print(opts, { deleted: iid }, () => `deleted integration ${iid}`);
});
withProject(integrations.command('test').description('test the connection now with a real, small request').argument('<integration-id>')).action(async (iid, opts) => {
  const res = await client(opts).call((mw) => mw.integrations.test(iid), opts.project);
  print(opts, res, () => `${res.ok ? 'ok' : 'failed'}: ${res.message} (${res.latency_ms} ms)`);
  if (!res.ok) process.exitCode = 1;
});
for (const verb of ['enable', 'disable'] as const) {
  withProject(integrations.command(verb).description(verb === 'enable' ? 'resume pushes (also after an automatic pause)' : 'stop pushes').argument('<integration-id>'))
    .action(async (iid, opts) => showIntegration(opts, await client(opts).call((mw) => mw.integrations[verb](iid), opts.project)));
}

const keys = program.command('keys').description('the master key that encrypts stored credentials');
keys
  .command('rotate')
  .description('re-encrypt every stored credential under a new master key (run with the server stopped)')
  .option('--data-dir <dir>', 'data directory (METERWAY_DATA_DIR, default ./meterway-data)')
  .option('--config <file>', 'configuration file, YAML (.yaml, .yml) or JSON (METERWAY_CONFIG)')
  .option('--new-key-file <file>', 'read the new key (base64 of 32 bytes) from this file; required when METERWAY_MASTER_KEY is set')
  .action(async (flags) => {
    const config = loadConfig(flags);
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { Secret } = await import('../config/secret.js');
    const { openSqlite } = await import('../store/db.js');
    const { rotateMasterKey } = await import('../control/master-key.js');
    const { lockDataDir, DataDirLockedError } = await import('../server/datadir-lock.js');
    if (config.masterKey !== undefined && flags.newKeyFile === undefined) {
      throw new CliError('METERWAY_MASTER_KEY is set, so the new key must come from you: generate one (openssl rand -base64 32 > new.key) and pass --new-key-file new.key');
    }
    const newKey = flags.newKeyFile === undefined ? undefined : new Secret(readFileSync(flags.newKeyFile, 'utf8').trim());
    if (newKey !== undefined && Buffer.from(newKey.reveal(), 'base64').length !== 32) throw new CliError(`${flags.newKeyFile} must hold base64 of exactly 32 bytes`);
    // Held for the whole rotation: a gateway started meanwhile would seal with the old key.
    let lock;
    try {
      lock = lockDataDir(config.dataDir);
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      throw new CliError(
        `the data directory ${err.dataDir} is in use by process ${err.pid} (recorded in ${err.file}), a running gateway: ` +
          `stop the gateway first (kill ${err.pid}), then run keys rotate again. If no such process is running, remove ${err.file}`,
      );
    }
    if (lock.staleRemoved !== undefined) console.error(`note: removed a stale lock ${lock.file} (${lock.staleRemoved})`);
    try {
      const db = await openSqlite(join(config.dataDir, 'meterway.db'));
      try {
        const r = await rotateMasterKey(db, config.dataDir, config.masterKey, newKey);
        console.log(`re-encrypted ${r.records} credential record(s) under master key version ${r.version}`);
        console.log(r.keyFile !== undefined ? `the new key is in ${r.keyFile}` : 'now set METERWAY_MASTER_KEY to the new key before starting the server');
      } finally {
        await db.destroy();
      }
    } finally {
      lock.release();
    }
  });

program
  .command('completion')
  .description('print a shell completion script (bash, zsh or fish) for these commands and flags')
  .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
  .addHelpText('after', `
Load it in the current shell:
  bash:  source <(meterway completion bash)
  zsh:   source <(meterway completion zsh)
  fish:  meterway completion fish | source
Install it for good:
  bash:  meterway completion bash > ~/.local/share/bash-completion/completions/meterway
  zsh:   meterway completion zsh > "\${fpath[1]}/_meterway"
  fish:  meterway completion fish > ~/.config/fish/completions/meterway.fish`)
  .action((shell: Shell) => {
    process.stdout.write(completionScript(program, shell));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  // The data directory is in use, or one of its files is damaged: the message says what to do.
  if ((err as Error).name === 'DataDirLockedError' || (err as Error).name === 'StartupError') {
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  }
  if (err instanceof ConfigError || (err as Error).name === 'MasterKeyError') {
    console.error((err as Error).message);
    process.exit(2);
  }
  const code = (err as { exitCode?: number; code?: string }).exitCode;
  if (code !== undefined) process.exit(code);
  console.error(err);
  process.exit(1);
}
