import { z } from 'zod';

/** The `dashboard` section: settings of `botbackup dashboard`. */
export const dashboardSchema = z
  .strictObject({
    /** Address the dashboard listens on; anything but loopback needs a token or basic auth. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port (0: any free port). */
    port: z.number().int().min(0).max(65535).default(8080),
    /** Bearer token (use ${VAR}); also accepted as the password of HTTP basic auth, whatever the user name. Never print it. */
    token: z.string().min(16, 'a token of at least 16 characters (use ${VAR})').optional(),
    /** HTTP basic auth (use ${VAR} for the password). Never print the password. */
    basic: z.strictObject({ user: z.string().min(1), password: z.string().min(8, 'a password of at least 8 characters (use ${VAR})') }).optional(),
    /** Refuse every change (retry, delete, clean, pause...) through the dashboard. */
    readOnly: z.boolean().default(true),
    /** Host names (as in the Host header, without port) it answers besides its address, localhost and IP addresses: a reverse proxy's name (DNS rebinding). */
    allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a host name without scheme, port or path (e.g. backups.example.com)')).default([]),
  })
  // Every key present, an unset credential as undefined: what the dashboard reads is the same with or without the section.
  .transform((d) => ({ host: d.host, port: d.port, token: d.token, basic: d.basic, readOnly: d.readOnly, allowedHosts: d.allowedHosts }));
export type DashboardConfig = z.output<typeof dashboardSchema>;
/** Dashboard settings when the config has no `dashboard` section: loopback only, read-only, no credentials. */
export const DEFAULT_DASHBOARD: DashboardConfig = dashboardSchema.parse({});
