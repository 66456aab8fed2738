/**
 * A small HTTP proxy for tests, in front of the ActiveCampaign sandbox: it forwards each request, lets the
 * sandbox apply it and answer in full, and then, per request, passes the answer on, drops it (destroys the
 * client's socket: the answer to an APPLIED request is lost) or delays it (past the client's timeout).
 * Decisions are seeded, so a run is reproducible. Listens on 127.0.0.1, port 0.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { seededRandom } from '../../dev/sandbox/random';

/** What the proxy does with one answer. */
export type ProxyFate = { action: 'pass' } | { action: 'drop' } | { action: 'delay'; realMs: number };

/** Options of `startResponseFaultProxy`. */
export interface ResponseFaultProxyOptions {
  /** The sandbox, e.g. `http://127.0.0.1:5123`. */
  target: string;
  /** Which requests faults may touch (default: every request). */
  only?: (method: string, path: string) => boolean;
  /** Probability that an eligible answer is dropped. */
  dropRate?: number;
  /** Probability that an eligible answer is delayed by `delayRealMs`. */
  delayRate?: number;
  delayRealMs?: number;
  seed?: number;
  /** Per-request override, by 1-based sequence number of eligible requests (deterministic tests). */
  script?: (seq: number) => ProxyFate | undefined;
}

/** One request the proxy saw. */
export interface ProxiedRequest {
  seq: number;
  method: string;
  path: string;
  /** The sandbox's status (the sandbox applied the request whatever happens to the answer). */
  upstreamStatus: number;
  fate: ProxyFate['action'];
}

export interface RunningProxy {
  /** What to give the client as the ActiveCampaign host (loopback dev rule), e.g. `127.0.0.1:6123`. */
  hostForClient: string;
  log: ProxiedRequest[];
  stop(): Promise<void>;
}

/** Starts the proxy in front of `options.target`. */
export async function startResponseFaultProxy(options: ResponseFaultProxyOptions): Promise<RunningProxy> {
  const random = seededRandom(options.seed ?? 1);
  const target = new URL(options.target);
  const log: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let eligible = 0;

  const decide = (method: string, path: string): ProxyFate => {
    if (options.only && !options.only(method, path)) return { action: 'pass' };
    const seq = ++eligible;
    const scripted = options.script?.(seq);
    if (scripted) return scripted;
    const roll = random();
    if (roll < (options.dropRate ?? 0)) return { action: 'drop' };
    if (roll < (options.dropRate ?? 0) + (options.delayRate ?? 0))
      return { action: 'delay', realMs: options.delayRealMs ?? 1_000 };
    return { action: 'pass' };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const fate = decide(method, path);
      const upstream = http.request(
        {
          host: target.hostname,
          port: target.port,
          method,
          path,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            // The sandbox has applied the request and answered in full; now decide what the client sees.
            log.push({
              seq: log.length + 1,
              method,
              path,
              upstreamStatus: answer.statusCode ?? 0,
              fate: fate.action,
            });
            const reply = () => {
              if (res.destroyed) return;
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(Buffer.concat(body));
            };
            if (fate.action === 'drop') req.socket.destroy();
            else if (fate.action === 'delay') {
              const timer = setTimeout(() => {
                timers.delete(timer);
                reply();
              }, fate.realMs);
              timers.add(timer);
            } else reply();
          });
        },
      );
      // The sandbox itself reset the connection (its own injected fault): pass that on.
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    hostForClient: `127.0.0.1:${port}`,
    log,
    stop: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
