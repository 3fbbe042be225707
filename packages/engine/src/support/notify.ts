import type { NotifyConfig } from '@botbackup/core';
import type { Logger } from './logger.js';

/** One notification: what happened, to what, and one sentence for people. */
export interface NotificationEvent {
  event: 'failure' | 'recovery' | 'stale';
  sourceId: string | undefined;
  /** The job type (full, incremental, verify...) or, for `stale`, undefined. */
  job: string | undefined;
  scheduleId: string | undefined;
  jobId: string | undefined;
  /** One sentence; never holds a secret (it is built from typed errors' messages). */
  message: string;
  /** ISO time. */
  at: string;
}

/**
 * POSTs an event as JSON to the configured webhook, if there is one and the event is wanted.
 * Slack and most chat bridges take `text`, so the body carries it beside the structured fields.
 * Never throws and never logs the URL (it may hold a token): a notification that cannot be
 * delivered is a warning, not a second failure.
 */
export async function sendNotification(notify: NotifyConfig, event: NotificationEvent, logger: Logger): Promise<boolean> {
  if (!notify.webhook || !notify.on.includes(event.event)) return false;
  const text = `botbackup ${event.event}${event.sourceId ? ` (${event.sourceId})` : ''}: ${event.message}`;
  try {
    const response = await fetch(notify.webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...notify.headers },
      body: JSON.stringify({ text, ...event }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      logger.warn({ event: event.event, status: response.status }, 'the notification webhook refused the event');
      return false;
    }
    return true;
  } catch (error) {
    logger.warn({ event: event.event, err: (error as Error).name }, 'the notification webhook could not be reached');
    return false;
  }
}
