/**
 * The export-scale benchmark's receiver (OTLP, remote write and Datadog over HTTP; StatsD over UDP), run as a child process so that its CPU is not the
 * gateway's. Plain node:http: it reads each request body and answers 200 with an empty protobuf
 * body at once, except under the path prefix /hang/, where it never answers (the gateway's timeout
 * ends those requests). It does not decode: the benchmark measures the sender.
 *
 * A UDP socket on the same port number takes StatsD datagrams, counted and dropped.
 *
 * Protocol over IPC: sends { kind: 'listening', port, udpPort }; answers { kind: 'stats' } with the
 * counts so far ({ kind: 'stats', ok, hung, bytes, closedHanging, connections, datagrams }).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMessage =
  | { kind: 'listening'; port: number; udpPort: number }
  | { kind: 'stats'; ok: number; hung: number; bytes: number; closedHanging: number; connections: number; datagrams: number };

let ok = 0;
let hung = 0;
let bytes = 0;
let closedHanging = 0;
let connections = 0;
let datagrams = 0;

const server = createServer((req, res) => {
  const hang = req.url !== undefined && req.url.startsWith('/hang/');
  req.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  req.on('end', () => {
    if (hang) {
      hung++;
      res.on('close', () => closedHanging++);
      return;
    }
    ok++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
    res.end();
  });
});
server.on('connection', () => connections++);
server.keepAliveTimeout = 30_000;
server.headersTimeout = 0;
server.requestTimeout = 0;

const udp = createSocket('udp4');
udp.on('message', (m) => {
  datagrams++;
  bytes += m.length;
});
udp.bind(0, '127.0.0.1', () => {
  server.listen(0, '127.0.0.1', () => {
    process.send!({ kind: 'listening', port: (server.address() as AddressInfo).port, udpPort: udp.address().port } satisfies ReceiverMessage);
  });
});

process.on('message', (m: { kind: string }) => {
  if (m.kind === 'stats') process.send!({ kind: 'stats', ok, hung, bytes, closedHanging, connections, datagrams } satisfies ReceiverMessage);
});
process.on('disconnect', () => process.exit(0));
