import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP server that receives webhook notifications (JSON bodies), for the notification tests. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>`: append any path. */
  url: string;
  /** The JSON bodies received, in order. */
  received: Record<string, unknown>[];
  /** The Authorization header of each request, in order. */
  authorizations: string[];
  /** Resolves once `count` notifications have arrived in all. */
  events(count: number): Promise<void>;
  close(): void;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: Record<string, unknown>[] = [];
  const authorizations: string[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      authorizations.push(String(req.headers.authorization));
      res.end('ok');
      for (const w of waiting.splice(0)) {
        if (received.length >= w.count) w.resolve();
        else waiting.push(w);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    authorizations,
    events: (count) => new Promise<void>((resolve) => (received.length >= count ? resolve() : waiting.push({ count, resolve }))),
    close: () => server.close(),
  };
}
