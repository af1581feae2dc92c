#!/usr/bin/env node
/** The `meterway` command: `serve`, and REST clients for projects and tokens. */
import { Command, Option } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { Client, CliError } from './client.js';
import { formatTable } from './table.js';

const program = new Command('meterway')
  .description('Metrics export gateway for AI inference and GPU platforms')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('start the gateway (embedded defaults: SQLite under --data-dir, no other server needed)')
  .option('--host <host>', 'address to listen on (METERWAY_HOST, default 127.0.0.1)')
  .option('--port <port>', 'port to listen on (METERWAY_PORT, default 9470)')
  .option('--data-dir <dir>', 'data directory (METERWAY_DATA_DIR, default ./meterway-data)')
  .option('--config <file>', 'JSON configuration file')
  .option('--retention <duration>', 'how long the embedded time-series store keeps samples (default 15d; 0 keeps everything)')
  .option('--demo', 'also run a simulated inference platform feeding live events')
  .action(async (flags) => {
    const config = loadConfig(flags);
    // Loaded here, not at the top: client commands then start in a fraction of the time.
    const { createGateway } = await import('../server/gateway.js');
    const { startDemo } = await import('../sources/demo/simulator.js');
    const gw = await createGateway(config);
    let address: string;
    try {
      address = await gw.app.listen({ host: config.host, port: config.port });
    } catch (err) {
      await gw.close();
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'the port is already in use' : code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : (err as Error).message;
      throw new CliError(`cannot listen on ${config.host}:${config.port}: ${why}; choose another with --port or --host`);
    }
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
      demo?.stop();
      await gw.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

const clientOptions = (cmd: Command): Command =>
  cmd
    .addOption(new Option('--server <url>', 'gateway URL').env('METERWAY_URL'))
    .addOption(new Option('--token <token>', 'API token').env('METERWAY_TOKEN'))
    .option('--json', 'print JSON for scripts');

const client = (opts: { server?: string; token?: string }): Client => new Client(opts, process.env);

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
    const p = await client(opts).request<Record<string, unknown>>('POST', '/v1/projects', { name: opts.name, id: opts.id });
    print(opts, p, () => formatTable([p], PROJECT_COLUMNS));
  });
clientOptions(projects.command('list').description('list projects')).action(async (opts) => {
  const res = await client(opts).request<{ items: Record<string, unknown>[] }>('GET', '/v1/projects');
  print(opts, res, () => formatTable(res.items, PROJECT_COLUMNS));
});
clientOptions(projects.command('get').description('show a project').argument('<project-id>')).action(async (pid, opts) => {
  const p = await client(opts).request<Record<string, unknown>>('GET', `/v1/projects/${encodeURIComponent(pid)}`);
  print(opts, p, () => formatTable([p], PROJECT_COLUMNS));
});
clientOptions(projects.command('delete').description('delete a project with its tokens and metrics (admin token)').argument('<project-id>'))
  .action(async (pid, opts) => {
    await client(opts).request('DELETE', `/v1/projects/${encodeURIComponent(pid)}`);
    print(opts, { deleted: pid }, () => `deleted project ${pid}`);
  });

const tokens = program.command('tokens').description('manage API tokens');
clientOptions(tokens.command('create').description('create a token; it is printed this once only'))
  .requiredOption('--scope <scope>', 'ingest, manage or monitoring with --project; admin or ingest without')
  .requiredOption('--name <name>', 'a name to recognise it by')
  .option('--project <project-id>', 'bind the token to this project')
  .option('-q, --quiet', 'print only the token, for TOKEN=$(meterway tokens create ... -q)')
  .action(async (opts) => {
    const path = opts.project ? `/v1/projects/${encodeURIComponent(opts.project)}/tokens` : '/v1/tokens';
    const t = await client(opts).request<Record<string, unknown>>('POST', path, { scope: opts.scope, name: opts.name });
    if (opts.quiet) return console.log(t.token);
    print(opts, t, () => `${formatTable([t], ['id', 'scope', 'name', 'project_id'])}\n\ntoken (shown once, keep it now):\n${t.token as string}`);
  });
clientOptions(tokens.command('list').description("list tokens (without secrets): a project's, or the server-wide ones"))
  .option('--project <project-id>', "list this project's tokens")
  .action(async (opts) => {
    const path = opts.project ? `/v1/projects/${encodeURIComponent(opts.project)}/tokens` : '/v1/tokens';
    const res = await client(opts).request<{ items: Record<string, unknown>[] }>('GET', path);
    print(opts, res, () => formatTable(res.items, TOKEN_COLUMNS));
  });
clientOptions(tokens.command('revoke').description('revoke a token').argument('<token-id>'))
  .option('--project <project-id>', 'the project the token belongs to (omit for server-wide tokens)')
  .action(async (tid, opts) => {
    const path = opts.project
      ? `/v1/projects/${encodeURIComponent(opts.project)}/tokens/${encodeURIComponent(tid)}`
      : `/v1/tokens/${encodeURIComponent(tid)}`;
    await client(opts).request('DELETE', path);
    print(opts, { revoked: tid }, () => `revoked token ${tid}`);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  const code = (err as { exitCode?: number; code?: string }).exitCode;
  if (code !== undefined) process.exit(code);
  console.error(err);
  process.exit(1);
}
